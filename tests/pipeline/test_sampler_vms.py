"""The vms plugin, with fake ``multipass`` and ``virsh`` on PATH printing captured outputs."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import from_mapping
from pipeline.runner import SampleContext
from pipeline.samplers.vms import (
    VmsState,
    parse_domstats,
    parse_virsh_list,
    sample_vms,
    virsh_version,
)
from tests.pipeline.sampler_helpers import LOOPBACK_ONLY, check_rate, context

FIXTURES = Path(__file__).parent / "fixtures" / "vms"

FIELDS = [
    "name", "id", "release", "status", "cpu_count", "cpu_time", "cpu_time_gauge",
    "cpu_time_rate_per_sec", "memory_usage", "memory_total", "load_1min", "load_5min",
    "load_15min", "ipv4", "engine", "engine_version", "time_since_update", "key",
]  # fmt: skip


class Fakes:
    """The fake engines on PATH, and the argv of every call they received."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *engines: str) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for engine in engines:
            shutil.copy(FIXTURES / "bin" / engine, bin_dir / engine)
        self.log = tmp_path / "calls.log"
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
        monkeypatch.setenv("FAKE_VMS_DATA", str(FIXTURES))
        monkeypatch.setenv("FAKE_VMS_LOG", str(self.log))
        monkeypatch.chdir(tmp_path)  # where a shell would have run "touch x"


def ctx(**options: Any) -> SampleContext:
    config = from_mapping({**LOOPBACK_ONLY, "vms": {"disable": False, **options}})
    return context(["vms"], config=config)


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {vm["name"]: vm for vm in data["vms"]}


def test_without_multipass_or_virsh_the_plugin_is_an_empty_dict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    data, state = sample_vms(None, ctx())
    assert data == {"vms": {}}
    assert state is None


def test_virsh_domains_running_or_paused_with_the_references_derivations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Fakes(tmp_path, monkeypatch, "virsh")
    data, state = sample_vms(None, ctx())
    vms = by_name(data)
    assert list(vms) == ["win11", "a&&touch x", "debian12"]  # not the shut off one
    win11 = vms["win11"]
    assert list(win11) == FIELDS
    elapsed = win11.pop("time_since_update")
    assert elapsed > 0
    assert win11 == {
        "name": "win11",
        "id": "1",
        "release": "Windows 11 Pro",
        "status": "running",
        "cpu_count": 4,
        "cpu_time": 0,  # first sight: published with a zero delta and rate
        "cpu_time_gauge": 1702145606000 / 1e9 * 100,
        "cpu_time_rate_per_sec": 0.0,
        "memory_usage": 8439116 * 1024,
        "memory_total": 8388608 * 1024,
        "load_1min": None,
        "load_5min": None,
        "load_15min": None,
        "ipv4": None,
        "engine": "virsh",
        "engine_version": "QEMU 8.2.2",
        "key": "name",
    }
    assert vms["debian12"]["status"] == "paused"
    assert vms["debian12"]["release"] == "Debian 12 (bookworm)"
    assert vms["a&&touch x"]["release"] is None  # no title
    assert isinstance(state, VmsState)


def test_a_domain_name_reaches_virsh_as_one_argument_never_through_a_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes = Fakes(tmp_path, monkeypatch, "virsh")
    data, _ = sample_vms(None, ctx())
    assert by_name(data)["a&&touch x"]["cpu_count"] == 2
    assert not (tmp_path / "x").exists()
    log = fakes.log.read_text().splitlines()
    assert "a&&touch x" in log
    calls = "\n".join(log)
    assert "virsh\ndomstats\n--nowait\n--\na&&touch x\n--" in calls
    assert "virsh\ndesc\n--title\n--\na&&touch x\n--" in calls


def test_cpu_time_is_a_rate_over_two_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Fakes(tmp_path, monkeypatch, "virsh")
    first, state = sample_vms(None, ctx())
    assert state is not None
    snapshot = dataclasses.replace(state, cpu=dict(state.cpu))
    time.sleep(0.2)
    monkeypatch.setenv("FAKE_VMS_ROUND", "2")
    second, state2 = sample_vms(state, ctx())
    assert state == snapshot  # the previous state is left as it was
    before, after = by_name(first), by_name(second)
    win11 = after["win11"]
    assert win11["cpu_time"] == pytest.approx(150.0)  # 1.5 s of CPU: 150 "percent"
    assert win11["cpu_time_gauge"] == pytest.approx((1702145606000 + 1_500_000_000) / 1e9 * 100)
    check_rate(win11, "cpu_time", before["win11"]["cpu_time_gauge"])
    assert win11["cpu_time_rate_per_sec"] > 0
    assert after["a&&touch x"]["cpu_time"] == pytest.approx(2.0)
    assert after["debian12"]["cpu_time"] == 0  # paused: no CPU
    assert after["debian12"]["cpu_time_rate_per_sec"] == 0.0
    assert state2 is not None and state2.ts > state.ts


def test_all_lists_shut_off_domains_without_their_missing_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Fakes(tmp_path, monkeypatch, "virsh")
    data, _ = sample_vms(None, ctx(all=True))
    vms = by_name(data)
    assert list(vms) == ["win11", "a&&touch x", "debian12", "Kali_Linux_2024"]
    kali = vms["Kali_Linux_2024"]
    assert (kali["id"], kali["status"]) == ("-", "shut off")
    assert kali["cpu_count"] is None and kali["memory_usage"] is None
    assert kali["cpu_time"] is None and kali["cpu_time_gauge"] is None
    assert kali["engine"] == "virsh"


def test_the_version_and_titles_are_not_asked_again_every_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes = Fakes(tmp_path, monkeypatch, "virsh")
    _, state = sample_vms(None, ctx())
    fakes.log.unlink()
    second, _ = sample_vms(state, ctx())
    asked = [line for line in fakes.log.read_text().splitlines() if line in ("version", "desc")]
    assert asked == []
    assert by_name(second)["win11"]["engine_version"] == "QEMU 8.2.2"
    assert by_name(second)["win11"]["release"] == "Windows 11 Pro"


def test_multipass_instances_with_the_references_derivations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes = Fakes(tmp_path, monkeypatch, "multipass")
    data, _ = sample_vms(None, ctx())
    assert [vm["name"] for vm in data["vms"]] == ["primary"]  # not the stopped one
    primary = data["vms"][0]
    assert list(primary) == FIELDS
    assert primary["time_since_update"] > 0
    del primary["time_since_update"]
    assert primary == {
        "name": "primary",
        "id": "182dc760bfca26c45fb4e4668049ecd4d0ecdd6171b3bae81d0135e8f1e9d93e",
        "release": "Ubuntu 24.04.1 LTS",
        "status": "running",
        "cpu_count": 2,
        "cpu_time": None,  # multipass reports no CPU time
        "cpu_time_gauge": None,
        "cpu_time_rate_per_sec": None,
        "memory_usage": 432058368,
        "memory_total": 1002500096,
        "load_1min": 0.08,
        "load_5min": 0.03,
        "load_15min": 0.0,
        "ipv4": "10.218.69.109",
        "engine": "multipass",
        "engine_version": "1.14.1",
        "key": "name",
    }
    text = "\n".join(fakes.log.read_text().splitlines())
    assert "multipass\ninfo\n--format\njson\n--\nprimary\n--" in text  # only the one shown


def test_multipass_all_lists_stopped_instances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Fakes(tmp_path, monkeypatch, "multipass")
    data, _ = sample_vms(None, ctx(all=True))
    vms = by_name(data)
    assert list(vms) == ["primary", "builder"]
    builder = vms["builder"]
    assert builder["status"] == "stopped"
    assert builder["release"] == "22.04 LTS"  # no release: the image's
    assert builder["cpu_count"] is None and builder["memory_usage"] is None
    assert builder["load_1min"] is None and builder["ipv4"] is None


def test_a_failed_multipass_info_keeps_what_the_list_gave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Fakes(tmp_path, monkeypatch, "multipass")
    monkeypatch.setenv("FAKE_MULTIPASS_INFO_FAILS", "1")
    data, _ = sample_vms(None, ctx())
    (primary,) = data["vms"]
    assert (primary["name"], primary["status"]) == ("primary", "running")
    assert (primary["release"], primary["ipv4"]) == ("24.04 LTS", "10.218.69.109")
    assert primary["id"] is None and primary["memory_usage"] is None


def test_both_engines_are_listed_each_with_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Fakes(tmp_path, monkeypatch, "multipass", "virsh")
    data, _ = sample_vms(None, ctx())
    assert [(vm["name"], vm["engine"], vm["engine_version"]) for vm in data["vms"]] == [
        ("primary", "multipass", "1.14.1"),
        ("win11", "virsh", "QEMU 8.2.2"),
        ("a&&touch x", "virsh", "QEMU 8.2.2"),
        ("debian12", "virsh", "QEMU 8.2.2"),
    ]


def test_a_slow_domain_is_killed_and_the_round_ends_within_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Fakes(tmp_path, monkeypatch, "virsh")
    monkeypatch.setenv("FAKE_VMS_SLOW", "win11")
    monkeypatch.setenv("FAKE_VMS_SLEEP", "30")
    start = time.monotonic()
    data, _ = sample_vms(None, ctx(command_timeout=0.5))
    assert time.monotonic() - start < 0.5 * 3 + 5  # a few commands' timeouts + margin
    win11 = by_name(data)["win11"]  # listed, without its stats
    assert win11["cpu_count"] is None and win11["cpu_time"] is None
    assert by_name(data)["debian12"]["cpu_count"] == 2


def test_no_engine_answering_is_an_empty_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Fakes(tmp_path, monkeypatch, "virsh")
    monkeypatch.setenv("FAKE_VMS_DATA", str(tmp_path / "nothing"))  # every command fails
    data, _ = sample_vms(None, ctx())
    assert data == {"vms": []}


def test_parse_virsh_list_keeps_spaces_inside_names() -> None:
    text = (
        " Id   Name                    State\n"
        "-----------------------------------------\n"
        " 12   my  vm                  running\n"
        " -    spaced name             shut off\n"
        " 7    x                       in shutdown\n"
        "\n"
    )
    assert parse_virsh_list(text) == [
        ("12", "my  vm", "running"),
        ("-", "spaced name", "shut off"),
        ("7", "x", "in shutdown"),
    ]
    assert parse_virsh_list(None) == []


def test_parse_domstats_splits_on_the_first_equal_sign() -> None:
    stats = parse_domstats("Domain: 'a'\n  cpu.time=5\n  block.0.path=/x=y\n\n")
    assert stats == {"cpu.time": "5", "block.0.path": "/x=y"}


def test_virsh_version_is_the_running_hypervisor() -> None:
    text = (FIXTURES / "virsh" / "version.txt").read_text()
    assert virsh_version(text) == "QEMU 8.2.2"
    assert virsh_version("Compiled against library: libvirt 10.0.0\n") is None


def test_live_vms_on_this_machine() -> None:
    data, _ = sample_vms(None, context(["vms"]))
    if shutil.which("multipass") is None and shutil.which("virsh") is None:
        assert data == {"vms": {}}
    else:
        assert isinstance(data["vms"], list)
        for vm in data["vms"]:
            assert list(vm) == FIELDS
