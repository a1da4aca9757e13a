"""Limits and views of the plugins added for issue 7, and the configured options."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from pipeline.bus import Bus
from pipeline.config import Config, from_mapping
from pipeline.events import StatEvent
from pipeline.plugins import PLUGINS
from pipeline.plugins.amps import amps_level
from pipeline.plugins.judge import Verdict, has_rules, limits_document
from pipeline.stages.thresholds import ThresholdStage
from tests.pipeline.test_thresholds import deco, judge

NCPU = 16  # the spec's /all/limits example was taken on a 16-core machine
SPEC = Path(__file__).resolve().parents[1] / "spec" / "glances-api-v4.rst"
OFF_BY_DEFAULT = ("cloud", "connections", "irq", "raid", "smart", "vms")
#: the plugins this package added limits for, all shown in the spec's example
NEW_IN_SPEC = ("amps", "containers", "folders", "gpu", "help", "ports", "wifi")


def spec_all_limits() -> dict[str, dict[str, Any]]:
    text = SPEC.read_text()
    start = text.index("# curl http://localhost:61208/api/4/all/limits")
    end = text.index("Limits/thresholds for the cpu plugin", start)
    literal = text[start:end].split("\n", 1)[1].strip()
    value: dict[str, dict[str, Any]] = ast.literal_eval(literal)
    return value


def config(**sections: dict[str, Any]) -> Config:
    return from_mapping(sections)


# --- limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("plugin", NEW_IN_SPEC)
def test_new_plugins_limits_equal_the_spec_example_with_every_plugin_enabled(
    plugin: str,
) -> None:
    every = config(**{p: {"disable": False} for p in OFF_BY_DEFAULT})
    assert set(every.enabled_plugins()) == set(PLUGINS)
    assert limits_document(plugin, every, NCPU) == spec_all_limits()[plugin]


def test_every_spec_plugin_has_the_spec_keys_of_its_options() -> None:
    """The options the spec's example shows are there with their shapes; the values
    statbus does not ship (hide lists, ``network_hide_no_*``) may differ."""
    spec = spec_all_limits()
    for plugin, expected in spec.items():
        doc = limits_document(plugin, Config(), NCPU)
        for key, value in expected.items():
            if key.endswith("_hide") or key.startswith(("ip_public_", "diskio_rx", "diskio_tx")):
                continue
            if key in ("sensors_refresh", "system_refresh"):
                continue
            assert key in doc, (plugin, key)
            assert type(doc[key]) is type(value), (plugin, key)


@pytest.mark.parametrize("plugin", OFF_BY_DEFAULT)
def test_plugins_off_by_default_show_their_disable_switch(plugin: str) -> None:
    assert limits_document(plugin, Config(), NCPU)[f"{plugin}_disable"] == ["True"]
    enabled = config(**{plugin: {"disable": False}})
    assert limits_document(plugin, enabled, NCPU)[f"{plugin}_disable"] == ["False"]


def test_default_thresholds_of_gpu_wifi_and_connections() -> None:
    gpu = limits_document("gpu", Config(), NCPU)
    assert [gpu[f"gpu_temperature_{lvl}"] for lvl in ("careful", "warning", "critical")] == [
        60.0,
        70.0,
        80.0,
    ]
    assert (gpu["gpu_mem_careful"], gpu["gpu_proc_critical"]) == (50.0, 90.0)
    wifi = limits_document("wifi", Config(), NCPU)
    assert (wifi["wifi_careful"], wifi["wifi_warning"], wifi["wifi_critical"]) == (
        -65.0,
        -75.0,
        -85.0,
    )
    conn = limits_document("connections", Config(), NCPU)
    assert conn["connections_nf_conntrack_percent_careful"] == 70.0
    assert conn["connections_nf_conntrack_percent_warning"] == 80.0
    assert conn["connections_nf_conntrack_percent_critical"] == 90.0


def test_options_come_from_the_configuration() -> None:
    conf = config(
        network={"hide_zero": True, "hide_no_ip": True, "hide_threshold_bytes": 1000},
        diskio={"hide_zero": True},
        fs={"allow": ["zfs", "nfs4"]},
        percpu={"max_cpu_display": 8},
        quicklook={"list": ["cpu", "swap"]},
        processlist={
            "sort_key": "name",
            "nice_critical": [-20],
            "status_warning": ["T"],
            "status_ok": [],
        },
        ports={"scan_timeout": 1.5, "refresh": 60},
        containers={"all": True, "max_name_size": 30, "docker_sock": "/tmp/d.sock"},
    )
    network = limits_document("network", conf, NCPU)
    assert network["network_hide_zero"] == ["True"]
    assert network["network_hide_no_ip"] == ["True"]
    assert network["network_hide_no_up"] == ["True"]  # the default, as the reference's
    assert network["network_hide_threshold_bytes"] == 1000.0
    assert limits_document("diskio", conf, NCPU)["diskio_hide_zero"] == ["True"]
    assert "diskio_hide_threshold_bytes" not in limits_document("diskio", conf, NCPU)
    assert limits_document("fs", conf, NCPU)["fs_allow"] == ["zfs", "nfs4"]
    assert limits_document("percpu", conf, NCPU)["percpu_max_cpu_display"] == 8.0
    assert limits_document("quicklook", conf, NCPU)["quicklook_list"] == ["cpu", "swap"]
    processlist = limits_document("processlist", conf, NCPU)
    assert processlist["processlist_sort_key"] == ["name"]
    assert processlist["processlist_nice_critical"] == ["-20"]
    assert processlist["processlist_status_warning"] == ["T"]
    assert processlist["processlist_status_critical"] == ["Z", "D"]
    assert "processlist_status_ok" not in processlist  # emptied: not shown
    assert "processlist_nice_ok" not in processlist
    ports = limits_document("ports", conf, NCPU)
    assert (ports["ports_timeout"], ports["ports_refresh"]) == (1.5, 60.0)
    assert "ports_scan_timeout" not in ports
    containers = limits_document("containers", conf, NCPU)
    assert containers["containers_all"] == ["True"]
    assert containers["containers_max_name_size"] == 30.0
    assert containers["containers_docker_sock"] == ["/tmp/d.sock"]  # not the default
    assert "containers_podman_sock" not in containers  # the default: not shown
    assert list(processlist) == sorted(processlist)


def test_defaults_hide_the_options_the_spec_does_not_show() -> None:
    assert "network_hide_threshold_bytes" not in limits_document("network", Config(), NCPU)
    assert "fs_allow" not in limits_document("fs", Config(), NCPU)
    assert "processlist_sort_key" not in limits_document("processlist", Config(), NCPU)
    assert "containers_docker_sock" not in limits_document("containers", Config(), NCPU)
    assert "cloud_url" not in limits_document("cloud", Config(), NCPU)


def test_targets_are_shown_as_the_reference_writes_them() -> None:
    conf = config(
        ports={"port": [{"host": "10.0.0.1", "port": 443, "rtt_warning": 2}]},
        folders={"folder": [{"path": "/srv", "careful": 2500, "critical": 3500}]},
    )
    ports = limits_document("ports", conf, NCPU)
    assert ports["ports_port_1_host"] == ["10.0.0.1"]
    assert ports["ports_port_1_port"] == 443.0
    assert ports["ports_port_1_rtt_warning"] == 2.0
    assert "ports_port_1_timeout" not in ports  # unset
    assert "ports_port_1_description" not in ports  # empty
    folders = limits_document("folders", conf, NCPU)
    assert folders["folders_folder_1_path"] == ["/srv"]
    assert (folders["folders_folder_1_careful"], folders["folders_folder_1_critical"]) == (
        2500.0,
        3500.0,
    )
    assert "folders_folder_1_warning" not in folders


def test_per_item_thresholds_are_shown() -> None:
    conf = config(
        gpu={"nvidia0_temperature_critical": 95, "nvidia0_temperature_log": True},
        containers={"web_cpu_warning": 40, "mem_critical": 95},
        wifi={"wlan0_critical": -80},
    )
    gpu = limits_document("gpu", conf, NCPU)
    assert gpu["gpu_nvidia0_temperature_critical"] == 95.0
    assert gpu["gpu_nvidia0_temperature_log"] == ["True"]
    containers = limits_document("containers", conf, NCPU)
    assert containers["containers_web_cpu_warning"] == 40.0
    assert containers["containers_mem_critical"] == 95.0
    assert limits_document("wifi", conf, NCPU)["wifi_wlan0_critical"] == -80.0


# --- wifi -------------------------------------------------------------------------------


def _hotspot(ssid: str, level: Any) -> dict[str, Any]:
    return {"ssid": ssid, "quality_link": 51.0, "quality_level": level, "key": "ssid"}


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (-59.0, "OK"),
        (-64.9, "OK"),
        (-65.0, "CAREFUL"),  # <= careful
        (-74.9, "CAREFUL"),
        (-75.0, "WARNING"),
        (-85.0, "CRITICAL"),
        (-95.0, "CRITICAL"),
        (None, "DEFAULT"),
    ],
)
def test_wifi_lower_is_worse(level: Any, expected: str) -> None:
    verdict = judge("wifi", [_hotspot("wlan0", level)])
    assert deco(verdict, "wlan0", "quality_level") == expected
    assert deco(verdict, "wlan0", "quality_link") == "DEFAULT"
    assert verdict.alerts == []  # wifi does not log by default
    if expected != "DEFAULT":
        assert verdict.levels == {"wifi": ["OK", "CAREFUL", "WARNING", "CRITICAL"].index(expected)}


def test_wifi_per_hotspot_limits_and_log() -> None:
    toml = {"wlan1_careful": -50, "wlan1_warning": -55, "wlan1_critical": -60, "wlan1_log": True}
    verdict = judge("wifi", [_hotspot("wlan0", -58.0), _hotspot("wlan1", -58.0)], toml)
    assert deco(verdict, "wlan0", "quality_level") == "OK"
    assert deco(verdict, "wlan1", "quality_level") == "WARNING_LOG"
    assert verdict.alerts == [["WIFI_WLAN1", "WARNING", -58.0]]


def test_wifi_hysteresis_holds_a_level_on_the_inverted_scale() -> None:
    first = judge("wifi", [_hotspot("wlan0", -80.0)], hysteresis=3.0)
    assert deco(first, "wlan0", "quality_level") == "WARNING"
    # -73 is within 3 dB of -75: still WARNING; -71 is not
    held = judge("wifi", [_hotspot("wlan0", -73.0)], previous=first.held, hysteresis=3.0)
    assert deco(held, "wlan0", "quality_level") == "WARNING"
    released = judge("wifi", [_hotspot("wlan0", -71.0)], previous=first.held, hysteresis=3.0)
    assert deco(released, "wlan0", "quality_level") == "CAREFUL"


# --- connections -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "expected"),
    [(0.0, "OK"), (69.9, "OK"), (70.0, "CAREFUL"), (80.0, "WARNING"), (90.0, "CRITICAL")],
)
def test_connections_conntrack_percent(percent: float, expected: str) -> None:
    data = {"LISTEN": 4, "nf_conntrack_percent": percent, "nf_conntrack_enabled": True}
    verdict = judge("connections", data)
    assert deco(verdict, "nf_conntrack_percent") == expected
    assert deco(verdict, "LISTEN") == "DEFAULT"
    level = ["OK", "CAREFUL", "WARNING", "CRITICAL"].index(expected)
    assert verdict.levels == {"connections_nf_conntrack_percent": level}


def test_connections_without_conntrack_are_not_judged() -> None:
    verdict = judge("connections", {"net_connections_enabled": True, "nf_conntrack_enabled": False})
    assert verdict.levels == {} and verdict.alerts == []


# --- folders ----------------------------------------------------------------------------


def _folder(size: int, errno: int = 0, **limits: Any) -> dict[str, Any]:
    entry = {"path": "/srv", "size": size, "errno": errno, "refresh": 60, "key": "path"}
    entry.update({"careful": None, "warning": None, "critical": None, **limits})
    return entry


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_folder(10_000_000, careful=10), "OK"),  # strictly greater
        (_folder(10_000_001, careful=10), "CAREFUL"),
        (_folder(10_000_001, careful=10.9), "CAREFUL"),  # int(MB), as the reference
        (_folder(20_000_001, careful=10, warning=20, critical=30), "WARNING"),
        (_folder(30_000_001, careful=10, warning=20, critical=30), "CRITICAL"),
        (_folder(30_000_001, critical=30), "CRITICAL"),
        (_folder(10**12), "OK"),  # no thresholds
        (_folder(5, errno=13, careful=1), "ERROR"),
        (_folder(10**12, errno=110, critical=1), "ERROR"),  # a walk cut short
    ],
)
def test_folders_size_against_its_own_thresholds(entry: dict[str, Any], expected: str) -> None:
    verdict = judge("folders", [entry])
    assert deco(verdict, "/srv", "size") == expected
    assert verdict.alerts == []
    if expected == "ERROR":
        assert verdict.levels == {}  # ERROR is not a level
    else:
        level = ["OK", "CAREFUL", "WARNING", "CRITICAL"].index(expected)
        assert verdict.levels == {"folders_/srv": level}


def test_folders_log_switch() -> None:
    verdict = judge("folders", [_folder(30_000_001, critical=30)], {"/srv_log": True})
    assert deco(verdict, "/srv", "size") == "CRITICAL_LOG"
    assert verdict.alerts == [["FOLDERS_/SRV", "CRITICAL", 30.000001]]


# --- ports ------------------------------------------------------------------------------


def _port(status: Any, rtt_warning: Any = None) -> dict[str, Any]:
    return {
        "indice": "port_1",
        "host": "127.0.0.1",
        "port": 22,
        "description": "ssh",
        "refresh": 30,
        "rtt_warning": rtt_warning,
        "status": status,
        "timeout": 3,
        "key": "indice",
    }


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_port(False), "CRITICAL"),
        (_port(False, 0.5), "CRITICAL"),
        (_port(None), "CAREFUL"),
        (_port(0.6, 0.5), "WARNING"),
        (_port(0.5, 0.5), "OK"),  # strictly above
        (_port(0.015), "OK"),  # no rtt_warning
        (_port(0.0, 0.5), "OK"),  # a float, not False
    ],
)
def test_ports_status(entry: dict[str, Any], expected: str) -> None:
    verdict = judge("ports", [entry])
    assert deco(verdict, "port_1", "status") == expected
    assert deco(verdict, "port_1", "rtt_warning") == "DEFAULT"
    level = ["OK", "CAREFUL", "WARNING", "CRITICAL"].index(expected)
    assert verdict.levels == {"ports_port_1_rtt": level}
    assert verdict.alerts == []


def test_ports_log_switch_plugin_wide() -> None:
    verdict = judge("ports", [_port(False)], {"log": True})
    assert deco(verdict, "port_1", "status") == "CRITICAL_LOG"
    assert verdict.alerts == [["PORTS_PORT_1_RTT", "CRITICAL", 0.0]]


# --- amps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "countmin", "countmax", "expected"),
    [
        (1, 1.0, None, "OK"),
        (3, 1.0, 2.0, "WARNING"),  # above countmax
        (1, 2.0, None, "WARNING"),  # below countmin
        (2, None, None, "OK"),
        (0, 1.0, None, "CRITICAL"),
        (0, 0.0, 5.0, "OK"),
        (0, None, None, "OK"),  # countmin defaults to the count
        (None, 1.0, None, "OK"),
    ],
)
def test_amps_count(count: Any, countmin: Any, countmax: Any, expected: str) -> None:
    entry = {"name": "Dropbox", "count": count, "countmin": countmin, "countmax": countmax}
    entry.update({"refresh": 3.0, "regex": True, "result": None, "timer": 0.3, "key": "name"})
    verdict = judge("amps", [entry])
    assert deco(verdict, "Dropbox", "count") == expected
    levels = ["OK", "CAREFUL", "WARNING", "CRITICAL"]
    assert verdict.levels == {"amps_dropbox": levels.index(expected)}
    assert amps_level(count, countmin, countmax) == levels.index(expected)


# --- gpu --------------------------------------------------------------------------------


def _gpu(gpu_id: str, proc: Any, mem: Any, temperature: Any) -> dict[str, Any]:
    return {
        "gpu_id": gpu_id,
        "name": "AMD GPU",
        "proc": proc,
        "mem": mem,
        "temperature": temperature,
        "fan_speed": None,
        "key": "gpu_id",
    }


def test_gpu_defaults() -> None:
    verdict = judge("gpu", [_gpu("amd0", 49, 70, 80)])
    assert deco(verdict, "amd0", "proc") == "OK"
    assert deco(verdict, "amd0", "mem") == "WARNING"
    assert deco(verdict, "amd0", "temperature") == "CRITICAL"  # 60/70/80
    assert deco(verdict, "amd0", "fan_speed") == "DEFAULT"
    assert verdict.levels == {"gpu_proc": 0, "gpu_mem": 2, "gpu_temperature": 3}
    assert verdict.alerts == []


def test_gpu_missing_values_are_not_judged() -> None:
    verdict = judge("gpu", [_gpu("nvidia0", None, None, None)])
    assert {deco(verdict, "nvidia0", f) for f in ("proc", "mem", "temperature")} == {"DEFAULT"}
    assert verdict.levels == {}


def test_gpu_per_item_limits() -> None:
    toml = {
        "nvidia0_temperature_warning": 85,
        "nvidia0_temperature_critical": 95,
        "nvidia0_temperature_log": True,
    }
    verdict = judge("gpu", [_gpu("nvidia0", 0, 0, 86), _gpu("nvidia1", 0, 0, 86)], toml)
    assert deco(verdict, "nvidia0", "temperature") == "WARNING_LOG"
    assert deco(verdict, "nvidia1", "temperature") == "CRITICAL"  # gpu_temperature_*
    assert verdict.alerts == [["GPU_NVIDIA0_TEMPERATURE", "WARNING", 86.0]]


# --- containers -------------------------------------------------------------------------


def _container(name: str, cpu: Any, usage: int, limit: Any, inactive: Any) -> dict[str, Any]:
    return {
        "name": name,
        "key": "name",
        "cpu": {"total": cpu},
        "cpu_percent": cpu,
        "memory_usage": usage,
        "memory_limit": limit,
        "memory_inactive_file": inactive,
        "status": "running",
    }


def test_containers_have_no_default_limits() -> None:
    verdict = judge("containers", [_container("web", 99.0, 99, 100, 0)])
    assert deco(verdict, "web", "cpu_percent") == "DEFAULT"
    assert deco(verdict, "web", "memory_usage") == "DEFAULT"
    assert verdict.levels == {}


@pytest.mark.parametrize(
    ("entry", "toml", "cpu", "mem"),
    [
        # plugin-wide cpu_*/mem_*; memory is usage - inactive_file, of the limit
        (
            _container("web", 55.0, 800, 1000, 100),
            {"cpu_careful": 50, "mem_careful": 50, "mem_warning": 70},
            "CAREFUL",
            "WARNING",
        ),
        (
            _container("web", 10.0, 800, 1000, 400),
            {"cpu_careful": 50, "mem_careful": 50, "mem_warning": 70},
            "OK",
            "OK",
        ),
        (_container("web", 10.0, 800, 1000, None), {"mem_warning": 80}, "DEFAULT", "WARNING"),
        # a container's own limits win
        (
            _container("web", 55.0, 0, 1000, 0),
            {"cpu_careful": 50, "web_cpu_careful": 60},
            "OK",
            "DEFAULT",
        ),
        (_container("db", 55.0, 0, 1000, 0), {"web_cpu_careful": 60}, "DEFAULT", "DEFAULT"),
        # no memory limit: nothing to judge against
        (_container("web", 0.0, 900, 0, 0), {"mem_careful": 50}, "DEFAULT", "DEFAULT"),
        (_container("web", None, 900, None, 0), {"cpu_careful": 50}, "DEFAULT", "DEFAULT"),
    ],
)
def test_containers_cpu_and_memory(
    entry: dict[str, Any], toml: dict[str, Any], cpu: str, mem: str
) -> None:
    verdict = judge("containers", [entry], toml)
    assert deco(verdict, entry["name"], "cpu_percent") == cpu
    assert deco(verdict, entry["name"], "memory_usage") == mem


# --- raid -------------------------------------------------------------------------------


def _array(kind: Any, status: str, used: Any, available: Any) -> dict[str, Any]:
    return {
        "status": status,
        "type": kind,
        "components": {"sdb1": "0", "sdc1": "1"},
        "available": available,
        "used": used,
        "config": "UU",
    }


def test_raid_arrays_get_field_views_and_the_reference_alert() -> None:
    data = {
        "md0": _array("raid1", "active", 2, 2),
        "md1": _array("raid5", "active", 2, 3),
        "md2": _array("raid0", "active", 1, 2),
        "md3": _array(None, "inactive", None, None),
        "md4": _array("raid1", "active", "1", "2"),  # digit strings, as pymdstat
        "md5": _array("raid1", "active", None, None),
    }
    verdict = judge("raid", data)
    assert set(verdict.views["md0"]) == set(data["md0"])
    assert deco(verdict, "md0", "used") == "OK"
    assert deco(verdict, "md1", "used") == "WARNING"
    assert deco(verdict, "md2", "used") == "OK"
    assert deco(verdict, "md3", "used") == "CRITICAL"
    assert deco(verdict, "md4", "used") == "WARNING"
    assert deco(verdict, "md5", "used") == "DEFAULT"
    assert deco(verdict, "md1", "available") == "DEFAULT"
    levels = {"raid_md0": 0, "raid_md1": 2, "raid_md2": 0, "raid_md3": 3, "raid_md4": 2}
    assert verdict.levels == levels  # md5: DEFAULT, no level
    assert verdict.alerts == []


# --- hide_zero --------------------------------------------------------------------------


def _nic(name: str, rx: float, tx: float) -> dict[str, Any]:
    return {
        "interface_name": name,
        "key": "interface_name",
        "bytes_recv": int(rx * 2),
        "bytes_recv_rate_per_sec": rx,
        "bytes_sent": int(tx * 2),
        "bytes_sent_rate_per_sec": tx,
        "speed": 0,
        "time_since_update": 2.0,
    }


def hidden(verdict: Verdict, item: str, field: str) -> bool:
    flag: bool = verdict.views[item][field]["hidden"]
    return flag


def test_hide_zero_off_hides_nothing() -> None:
    verdict = judge("network", [_nic("eth0", 0, 0)])
    assert not hidden(verdict, "eth0", "bytes_recv_rate_per_sec")


def test_hide_zero_hides_a_rate_until_it_exceeds_the_threshold_then_keeps_it_shown() -> None:
    toml = {"hide_zero": True, "hide_threshold_bytes": 100}
    first = judge("network", [_nic("eth0", 0, 100), _nic("eth1", 101, 0)], toml)
    assert hidden(first, "eth0", "bytes_recv_rate_per_sec")
    assert hidden(first, "eth0", "bytes_sent_rate_per_sec")  # 100 is not above 100
    assert not hidden(first, "eth0", "bytes_recv")  # only the rate fields
    assert not hidden(first, "eth1", "bytes_recv_rate_per_sec")
    assert hidden(first, "eth1", "bytes_sent_rate_per_sec")
    # eth1's rx went back to 0: it stays shown (the reference keeps its previous views)
    second = judge("network", [_nic("eth0", 0, 0), _nic("eth1", 0, 0)], toml, previous=first.held)
    assert not hidden(second, "eth1", "bytes_recv_rate_per_sec")
    assert hidden(second, "eth1", "bytes_sent_rate_per_sec")
    assert hidden(second, "eth0", "bytes_recv_rate_per_sec")
    # without the previous verdict, a new item starts hidden again
    assert hidden(judge("network", [_nic("eth1", 0, 0)], toml), "eth1", "bytes_recv_rate_per_sec")


def test_hide_zero_diskio() -> None:
    disk = {
        "disk_name": "sda",
        "key": "disk_name",
        "read_bytes": 0,
        "read_bytes_rate_per_sec": 0.0,
        "write_bytes": 10,
        "write_bytes_rate_per_sec": 5.0,
        "time_since_update": 2.0,
    }
    verdict = judge("diskio", [disk], {"hide_zero": True})
    assert hidden(verdict, "sda", "read_bytes_rate_per_sec")
    assert not hidden(verdict, "sda", "write_bytes_rate_per_sec")


# --- processlist, quicklook -------------------------------------------------------------


def _proc(pid: int, nice: Any, status: Any) -> dict[str, Any]:
    return {"pid": pid, "key": "pid", "name": "p", "nice": nice, "status": status}


@pytest.mark.parametrize(
    ("nice", "status", "toml", "nice_deco", "status_deco"),
    [
        (0, "S", None, "DEFAULT", "DEFAULT"),
        (5, "R", None, "WARNING", "OK"),
        (-20, "Z", None, "WARNING", "CRITICAL"),
        (19, "D", None, "WARNING", "CRITICAL"),
        (0, "I", None, "DEFAULT", "OK"),  # status_ok R, W, P, I
        (-20, "T", {"nice_critical": [-20], "status_careful": ["T"]}, "CRITICAL", "CAREFUL"),
        (0, "R", {"nice_ok": [0], "status_ok": []}, "OK", "OK"),  # R is OK unlisted
        (0, "W", {"status_ok": []}, "DEFAULT", "DEFAULT"),
        (None, None, None, "DEFAULT", "DEFAULT"),
    ],
)
def test_processlist_nice_and_status(
    nice: Any, status: Any, toml: dict[str, Any] | None, nice_deco: str, status_deco: str
) -> None:
    verdict = judge("processlist", [_proc(7, nice, status)], toml)
    assert deco(verdict, "7", "nice") == nice_deco
    assert deco(verdict, "7", "status") == status_deco
    assert deco(verdict, "7", "name") == "DEFAULT"
    assert verdict.levels == {} and verdict.alerts == []  # display only


def test_processlist_views_are_made_on_request_not_published() -> None:
    assert not has_rules("processlist")
    assert all(has_rules(p) for p in ("wifi", "gpu", "folders", "ports", "amps", "raid"))
    conf = from_mapping({"processlist": {"nice_critical": [10]}})
    stage = ThresholdStage(Bus(), conf, ["processlist", "wifi"], ncpu=2)
    procs = [_proc(1, 10, "Z"), _proc(2, 0, "R")]
    assert stage._take(StatEvent("processlist", 1.0, 1, procs).to_msgpack()) is None
    views = stage.views("processlist")
    assert views["1"]["nice"]["decoration"] == "CRITICAL"
    assert views["1"]["status"]["decoration"] == "CRITICAL"
    assert views["2"]["status"]["decoration"] == "OK"
    verdict = stage.judge(StatEvent("wifi", 1.0, 1, [_hotspot("wlan0", -80.0)]))
    assert verdict is not None and verdict.levels == {"wifi": 2}
    assert stage.limits("wifi")["wifi_critical"] == -85.0


def test_quicklook_list_from_the_configuration() -> None:
    data = {"cpu": 1.0, "mem": 2.0, "swap": 3.0, "load": 4.0}
    assert judge("quicklook", data).views["list"] == ["cpu", "mem", "load"]
    configured = judge("quicklook", data, {"list": ["swap", "cpu"]})
    assert configured.views["list"] == ["swap", "cpu"]
