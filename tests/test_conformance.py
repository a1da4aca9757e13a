"""Conformance with the specification: every documented Linux field of every plugin is
present, with a sensible type, in the live ``/api/4/all``: of the default configuration,
and of one with all 34 plugins on and given something to report (a folder, a loopback
port, an application monitor, a loopback cloud-metadata server, ...).

The spec is ``tests/spec/glances-api-v4.rst`` (or ``$STATBUS_SPEC``): a copy of the
project's ``../shared/spec/glances-api-v4.rst``, kept in the repository so that a
checkout alone runs the tests; a test checks the copy against the original when the
original sits beside the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.plugins import PLUGINS
from pipeline.samplers import gpu, procfs, raid, wifi
from tests.conftest import LiveStatbus, start_statbus
from tests.pipeline.sampler_helpers import context
from tests.pipeline.test_sampler_containers import docker_engine, podman_engine
from tests.pipeline.test_sampler_gpu import drm  # noqa: F401 - a fixture: a DRM tree

FIXTURES = Path(__file__).resolve().parent / "pipeline" / "fixtures"

SPEC_COPY = Path(__file__).resolve().parent / "spec" / "glances-api-v4.rst"
SPEC_ORIGINAL = Path(__file__).resolve().parents[2] / "shared" / "spec" / "glances-api-v4.rst"
SPEC = Path(os.environ.get("STATBUS_SPEC", SPEC_COPY))
SECTION = re.compile(r"^GET (\w+)\n-+\n", re.M)
FIELD = re.compile(r"^\* \*\*(\w+)\*\*: (.*?)(?: \(unit is \*(.+?)\*(?: per second)?\))?$", re.M)
PLATFORM = re.compile(r"^\*\(([^)]*)\)\*")

# Documented, but only filled when a feature is switched on (public IP lookup).
NOT_ON_BY_DEFAULT = {("ip", "public_address"), ("ip", "public_info_human")}
# Documented numbers that may legitimately be null on a given machine.
NULLABLE = {
    ("sensors", "warning"),
    ("sensors", "critical"),
    ("quicklook", "cpu_hz"),
    ("quicklook", "cpu_hz_current"),
    ("ip", "gateway"),
    ("processlist", "nice"),
    ("programlist", "nice"),
    # unset thresholds and limits of the configured targets
    ("amps", "countmin"),
    ("amps", "countmax"),
    ("folders", "careful"),
    ("folders", "warning"),
    ("folders", "critical"),
    ("ports", "rtt_warning"),
    ("ports", "status"),  # not checked yet, or no ping command for an ICMP target
    # rates on a container's first sighting, and what a card does not report
    ("containers", "io_rx"),
    ("containers", "io_wx"),
    ("containers", "network_rx"),
    ("containers", "network_tx"),
    ("containers", "memory_inactive_file"),  # Podman's stats do not report it
    ("gpu", "mem"),
    ("gpu", "proc"),
    ("gpu", "temperature"),
    ("gpu", "fan_speed"),
    # what an engine does not report (multipass: no CPU time; a shut-off domain)
    ("vms", "cpu_time"),
    ("vms", "cpu_time_gauge"),
    ("vms", "cpu_time_rate_per_sec"),
    ("vms", "memory_usage"),
    ("vms", "memory_total"),
}
#: a port that does not answer has status False (the reference's "unreachable")
FALSE_MEANS_DOWN = {("ports", "status")}
#: fields the spec documents only for some engines: (plugin, field) -> (field, value)
ONLY_WHEN = {
    ("containers", "pod_name"): ("engine", "podman"),
    ("containers", "pod_id"): ("engine", "podman"),
}
#: a stopped container (listed with [containers] all) has no stats, as in the reference
STOPPED_CONTAINER_NULL = {
    "cpu_percent", "memory_usage", "memory_limit", "memory_inactive_file", "uptime"
}  # fmt: skip
#: cumulative CPU time "percent" (the reference's unit) is not bounded by 100 x CPUs
UNBOUNDED_PERCENT = {("vms", "cpu_time"), ("vms", "cpu_time_gauge")}
# Where the spec's own example contradicts its unit, the example (what clients see) wins:
# programlist entries aggregate processes and carry "pid": "_".
EXAMPLE_VALUES = {("programlist", "pid"): "_"}
# programlist fields that read "_" when the program's processes differ in them
MIXED = {("programlist", f) for f in ("username", "nice", "status", "gids")}
NUMBER_UNITS = {
    "percent",
    "float",
    "int",
    "number",
    "byte",
    "bytes",
    "seconds",
    "second",
    "hertz",
    "timestamp",
    "bitpersecond",
    "celsius",
    "roundperminute",
    "megabyte",
    "numberpersecond",
}


def parse_spec(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """``{plugin: {field: (description, unit)}}`` from the "Fields descriptions" lists."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    sections = list(SECTION.finditer(text))
    for i, match in enumerate(sections):
        end = sections[i + 1].start() if i + 1 < len(sections) else len(text)
        body = text[match.end() : end]
        if "Fields descriptions:" not in body:
            continue
        fields = out.setdefault(match.group(1), {})
        for f in FIELD.finditer(body):
            fields[f.group(1)] = (f.group(2), f.group(3) or "None")
    return out


def is_linux(description: str) -> bool:
    platform = PLATFORM.match(description)
    if platform is None:
        return True
    names = platform.group(1).lower()
    return "linux" in names or "unix" in names


def check_type(plugin: str, field: str, description: str, unit: str, value: Any) -> None:
    where = f"{plugin}.{field} = {value!r}"
    if (plugin, field) in EXAMPLE_VALUES:
        assert value == EXAMPLE_VALUES[plugin, field], where
        return
    if (plugin, field) in MIXED and value == "_":
        return  # a program whose processes differ in this field (docs/plugins.md)
    if value is None:
        assert (plugin, field) in NULLABLE or unit == "None", f"{where}: unexpected null"
        return
    if value is False and (plugin, field) in FALSE_MEANS_DOWN:
        return
    if "(dict with" in description:
        assert isinstance(value, dict), where
    elif "(list with" in description or unit == "list":
        assert isinstance(value, list), where
    elif unit == "string":
        assert isinstance(value, str), where
    elif unit == "bool":
        assert isinstance(value, bool), where
    elif unit in NUMBER_UNITS:
        assert isinstance(value, int | float) and not isinstance(value, bool), where
        if unit == "percent" and (plugin, field) not in UNBOUNDED_PERCENT:
            assert -0.001 <= value <= 100.0 * max(1, os.cpu_count() or 1), where


def test_spec_is_readable() -> None:
    spec = parse_spec(SPEC.read_text())
    assert {"cpu", "mem", "network", "fs", "processlist"} <= set(spec)
    assert spec["diskio"]["read_bytes"] == ("Number of bytes read", "byte")


def spec_plugins(text: str) -> list[str]:
    """The names of the spec's ``GET plugins list`` example."""
    block = text[text.index("GET plugins list") :]
    block = block[: block.index("]") + 1]
    return re.findall(r'"(\w+)"', block)


def check_plugin(plugin: str, value: Any) -> int:
    """Every documented Linux field in every entry of ``value``; the number of entries."""
    spec = parse_spec(SPEC.read_text())
    documented = {
        f: meta
        for f, meta in spec.get(plugin, {}).items()
        if is_linux(meta[0]) and (plugin, f) not in NOT_ON_BY_DEFAULT
    }
    info = PLUGINS[plugin]
    if info.kind == "value":
        assert isinstance(value, str) and value
        return 1
    if info.kind == "none":  # help: the spec shows null
        assert value is None
        return 0
    if value == {} and info.absent == "dict":  # smart, vms without their tool
        return 0
    entries = value if isinstance(value, list) else [value]
    if info.kind == "dict" and plugin == "raid":
        entries = list(value.values())
    for entry in entries:
        for field, (description, unit) in documented.items():
            only = ONLY_WHEN.get((plugin, field))
            if only is not None and entry.get(only[0]) != only[1]:
                continue
            assert field in entry, f"{plugin}.{field} missing from {sorted(entry)}"
            if (
                plugin == "containers"
                and entry[field] is None
                and field in STOPPED_CONTAINER_NULL
                and entry["status"] not in ("running", "paused")
            ):
                continue
            check_type(plugin, field, description, unit, entry[field])
    return len(entries)


@pytest.fixture(scope="module")
def all_stats(live: LiveStatbus) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{live.base}/all", timeout=10).json()
    return data


DEFAULT_ON = sorted(p for p, info in PLUGINS.items() if not info.default_disable)


@pytest.mark.parametrize("plugin", DEFAULT_ON)
def test_documented_linux_fields_are_served(plugin: str, all_stats: dict[str, Any]) -> None:
    if not check_plugin(plugin, all_stats[plugin]) and PLUGINS[plugin].kind != "none":
        pytest.skip(f"{plugin}: this machine has nothing to report")


# --- every plugin on ----------------------------------------------------------------------


class _Metadata(BaseHTTPRequestHandler):
    """An EC2-style instance-metadata service, on loopback."""

    PATHS = {
        "/latest/meta-data/ami-id": "ami-0abcdef",
        "/latest/meta-data/instance-id": "i-0123456789",
        "/latest/meta-data/instance-type": "t3.micro",
        "/latest/meta-data/placement/availability-zone": "eu-west-3a",
    }

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = self.PATHS.get(self.path)
        self.send_response(200 if body else 404)
        payload = (body or "not found").encode()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """statbus with every plugin on, and targets for the configured ones: a folder, a
    loopback port, an application monitor, a loopback EC2 metadata server, fake Docker
    and Podman engines on unix sockets, and fake smartctl, virsh and multipass
    commands first on its PATH (printing captured outputs)."""
    tmp = tmp_path_factory.mktemp("everything")
    tools = tmp / "bin"
    tools.mkdir()
    for tool in ("smart/bin/smartctl", "vms/bin/virsh", "vms/bin/multipass"):
        shutil.copy(FIXTURES / tool, tools)
    env = {
        "PATH": f"{tools}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "FAKE_SMARTCTL_DATA": str(FIXTURES / "smart" / "linux"),
        "FAKE_VMS_DATA": str(FIXTURES / "vms"),
    }
    folder = tmp / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "data").write_bytes(b"x" * 4096)
    metadata = ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    served = threading.Thread(target=metadata.serve_forever, daemon=True)
    served.start()
    listener = socket.create_server(("127.0.0.1", 0))
    off = "".join(f"[{p}]\ndisable = false\n" for p in ("connections", "irq", "raid"))
    toml = f"""
[api]
port = 0
[global]
refresh = 1.0
{off}
[smart]
disable = false
[vms]
disable = false
[cloud]
disable = false
url = "http://127.0.0.1:{metadata.server_address[1]}"
request_timeout = 2.0
[containers]
all = true
docker_sock = "{tmp / "docker.sock"}"
podman_sock = "{tmp / "podman.sock"}"
[ports]
port_default_gateway = false
[[ports.port]]
host = "127.0.0.1"
port = {listener.getsockname()[1]}
description = "loopback listener"
[[folders.folder]]
path = "{folder}"
warning = 1.0
[[amps.amp]]
name = "python"
regex = "python"
countmin = 1
"""
    docker = docker_engine(tmp / "docker.sock").__enter__()
    podman = podman_engine(tmp / "podman.sock").__enter__()
    live = start_statbus(tmp, toml, env=env)
    try:
        data: dict[str, Any] = httpx.get(f"{live.base}/all", timeout=10).json()
        names = httpx.get(f"{live.base}/pluginslist", timeout=10).json()
        yield {"all": data, "pluginslist": names, "base": live.base}
    finally:
        assert live.stop() == 0
        docker.stop()
        podman.stop()
        metadata.shutdown()
        metadata.server_close()
        served.join(timeout=5)
        listener.close()


def test_pluginslist_with_every_plugin_on_is_the_specs(everything: dict[str, Any]) -> None:
    names = spec_plugins(SPEC.read_text())
    assert len(names) == 34
    assert everything["pluginslist"] == names
    assert sorted(PLUGINS) == names
    assert sorted(everything["all"]) == names


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_every_plugin_on_serves_its_documented_fields(
    plugin: str, everything: dict[str, Any]
) -> None:
    check_plugin(plugin, everything["all"][plugin])


def test_the_configured_targets_are_reported(everything: dict[str, Any]) -> None:
    data = everything["all"]
    (folder,) = data["folders"]
    assert folder["size"] >= 4096 and folder["errno"] == 0
    (port,) = data["ports"]
    assert port["indice"] == "port_1" and port["description"] == "loopback listener"
    (amp,) = data["amps"]
    assert amp["count"] >= 1  # statbus itself is a python process
    assert data["cloud"]["name"] == "i-0123456789"
    assert data["cloud"]["platform"] == "Amazon EC2"
    assert data["connections"]["LISTEN"] >= 1  # the test's own listener at least
    assert data["help"] is None
    engines = {c["engine"] for c in data["containers"]}
    assert engines == {"docker", "podman"} and len(data["containers"]) == 6
    assert [d["DeviceName"] for d in data["smart"]]  # the fake smartctl's disks
    assert {v["engine"] for v in data["vms"]} == {"multipass", "virsh"}


# --- plugins whose sources this machine lacks, from real-format fixtures -----------------


def test_gpu_entries_of_a_drm_tree_serve_the_documented_fields(drm: Path) -> None:  # noqa: F811
    data, _ = gpu.sample_gpu(None, context(["gpu"]))
    assert check_plugin("gpu", data["gpu"]) >= 1


@pytest.mark.parametrize(("plugin", "fixture"), [("wifi", "wifi/two"), ("raid", "raid/raid1")])
def test_procfs_plugins_from_fixtures_have_their_shape(
    plugin: str, fixture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wifi and raid: the spec gives no field list; the shape is the reference's."""
    monkeypatch.setattr(procfs, "PROC", str(FIXTURES / fixture))
    sample = {"wifi": wifi.sample_wifi, "raid": raid.sample_raid}[plugin]
    data, _ = sample(None, context([plugin]))
    value = data[plugin]
    assert check_plugin(plugin, value) >= 1
    if plugin == "wifi":
        assert all(set(e) == {"key", "ssid", "quality_link", "quality_level"} for e in value)
    else:
        assert all(
            {"status", "type", "components", "available", "used", "config"} <= set(a)
            for a in value.values()
        )


@pytest.mark.skipif(not SPEC_ORIGINAL.exists(), reason="no ../shared beside this checkout")
def test_the_spec_copy_is_the_projects_spec() -> None:
    assert SPEC_COPY.read_bytes() == SPEC_ORIGINAL.read_bytes()
