"""Threshold rules against the reference's formulas, the limits documents, the stage."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from pipeline.bus import Bus, Policy
from pipeline.config import Config, from_mapping, load
from pipeline.events import StatEvent, ViewsEvent
from pipeline.plugins.judge import Verdict, compute_views, effective_limits, limits_document
from pipeline.stages.thresholds import ThresholdStage
from pipeline.topics import STATS_TOPIC, VIEWS_TOPIC

#: the spec's ``/all/limits`` example was taken on a 16-core machine
NCPU = 16
MBIT = 1048576  # the reference's "Mbps" unit of network speed


def judge(
    plugin: str,
    data: Any,
    toml: dict[str, Any] | None = None,
    *,
    previous: dict[str, int] | None = None,
    hysteresis: float = 0.0,
    cpucore: int = 2,
) -> Verdict:
    config = from_mapping({plugin: toml} if toml else {})
    limits = effective_limits(plugin, config.plugins[plugin], NCPU)
    return compute_views(plugin, data, limits, previous, hysteresis, cpucore)


def deco(verdict: Verdict, *path: str) -> str:
    node: Any = verdict.views
    for part in path:
        node = node[part]
    decoration: str = node["decoration"]
    return decoration


# --- limits ---------------------------------------------------------------------------

# Copied from the spec's GET /all/limits example.
SPEC_LIMITS: dict[str, dict[str, Any]] = {
    "cpu": {
        "cpu_ctx_switches_careful": 640000.0,
        "cpu_ctx_switches_critical": 800000.0,
        "cpu_ctx_switches_warning": 720000.0,
        "cpu_disable": ["False"],
        "cpu_iowait_careful": 5.0,
        "cpu_iowait_critical": 6.25,
        "cpu_iowait_warning": 5.625,
        "cpu_steal_careful": 50.0,
        "cpu_steal_critical": 90.0,
        "cpu_steal_warning": 70.0,
        "cpu_system_careful": 50.0,
        "cpu_system_critical": 90.0,
        "cpu_system_log": ["False"],
        "cpu_system_warning": 70.0,
        "cpu_total_careful": 65.0,
        "cpu_total_critical": 85.0,
        "cpu_total_log": ["True"],
        "cpu_total_warning": 75.0,
        "cpu_user_careful": 50.0,
        "cpu_user_critical": 90.0,
        "cpu_user_log": ["False"],
        "cpu_user_warning": 70.0,
        "history_size": 1200.0,
    },
    "load": {
        "history_size": 1200.0,
        "load_careful": 0.7,
        "load_critical": 5.0,
        "load_disable": ["False"],
        "load_warning": 1.0,
    },
    "mem": {
        "history_size": 1200.0,
        "mem_careful": 50.0,
        "mem_critical": 90.0,
        "mem_disable": ["False"],
        "mem_warning": 70.0,
    },
    "memswap": {
        "history_size": 1200.0,
        "memswap_careful": 50.0,
        "memswap_critical": 90.0,
        "memswap_disable": ["False"],
        "memswap_warning": 70.0,
    },
    "percpu": {
        "history_size": 1200.0,
        "percpu_disable": ["False"],
        "percpu_iowait_careful": 50.0,
        "percpu_iowait_critical": 90.0,
        "percpu_iowait_warning": 70.0,
        "percpu_max_cpu_display": 4.0,
        "percpu_system_careful": 50.0,
        "percpu_system_critical": 90.0,
        "percpu_system_warning": 70.0,
        "percpu_user_careful": 50.0,
        "percpu_user_critical": 90.0,
        "percpu_user_warning": 70.0,
    },
    "quicklook": {
        "history_size": 1200.0,
        "quicklook_bar_char": ["|"],
        "quicklook_cpu_careful": 50.0,
        "quicklook_cpu_critical": 90.0,
        "quicklook_cpu_warning": 70.0,
        "quicklook_disable": ["False"],
        "quicklook_list": ["cpu", "mem", "load"],
        "quicklook_load_careful": 70.0,
        "quicklook_load_critical": 500.0,
        "quicklook_load_warning": 100.0,
        "quicklook_mem_careful": 50.0,
        "quicklook_mem_critical": 90.0,
        "quicklook_mem_warning": 70.0,
        "quicklook_swap_careful": 50.0,
        "quicklook_swap_critical": 90.0,
        "quicklook_swap_warning": 70.0,
    },
    "processcount": {"history_size": 1200.0, "processcount_disable": ["False"]},
    "uptime": {"history_size": 1200.0},
    "core": {"history_size": 1200.0},
}
# Spec sections whose shipped `hide` lists statbus does not apply by default: compare
# every other key.
SPEC_PARTIAL: dict[str, dict[str, Any]] = {
    "fs": {
        "fs_careful": 50.0,
        "fs_critical": 90.0,
        "fs_disable": ["False"],
        "fs_warning": 70.0,
        "history_size": 1200.0,
    },
    "network": {
        "history_size": 1200.0,
        "network_disable": ["False"],
        "network_hide_zero": ["False"],
        "network_rx_careful": 70.0,
        "network_rx_critical": 90.0,
        "network_rx_warning": 80.0,
        "network_tx_careful": 70.0,
        "network_tx_critical": 90.0,
        "network_tx_warning": 80.0,
    },
    "sensors": {
        "history_size": 1200.0,
        "sensors_battery_careful": 70.0,
        "sensors_battery_critical": 90.0,
        "sensors_battery_warning": 80.0,
        "sensors_disable": ["False"],
        "sensors_temperature_hdd_careful": 45.0,
        "sensors_temperature_hdd_critical": 60.0,
        "sensors_temperature_hdd_warning": 52.0,
    },
    "processlist": {
        "history_size": 1200.0,
        "processlist_cpu_careful": 50.0,
        "processlist_cpu_critical": 90.0,
        "processlist_cpu_warning": 70.0,
        "processlist_disable": ["False"],
        "processlist_mem_careful": 50.0,
        "processlist_mem_critical": 90.0,
        "processlist_mem_warning": 70.0,
        "processlist_status_critical": ["Z", "D"],
        "processlist_status_ok": ["R", "W", "P", "I"],
    },
}


@pytest.mark.parametrize("plugin", sorted(SPEC_LIMITS))
def test_default_limits_equal_the_spec_example(plugin: str) -> None:
    assert limits_document(plugin, Config(), NCPU) == SPEC_LIMITS[plugin]


@pytest.mark.parametrize("plugin", sorted(SPEC_PARTIAL))
def test_default_limits_contain_the_spec_example(plugin: str) -> None:
    doc = limits_document(plugin, Config(), NCPU)
    assert {k: doc[k] for k in SPEC_PARTIAL[plugin]} == SPEC_PARTIAL[plugin]
    assert not any(k.endswith("_hide") for k in doc)  # nothing hidden unless configured


def test_iowait_and_context_switch_defaults_scale_with_the_cpu_count() -> None:
    doc = limits_document("cpu", Config(), 4)
    assert (doc["cpu_iowait_careful"], doc["cpu_iowait_critical"]) == (20.0, 25.0)
    assert doc["cpu_ctx_switches_warning"] == 180000.0


def test_configured_keys_are_prefixed_and_override_the_defaults() -> None:
    config = from_mapping(
        {
            "global": {"history_size": 50},
            "cpu": {"total_careful": 70, "iowait_log": False, "hysteresis": 2, "refresh": 5},
            "fs": {"/_critical": 95, "hide": ["/boot.*"]},
            "network": {"eth0_rx_warning": 1e6, "wlan0_rx_log": True},
            "sensors": {"temperature_core_Ambient_warning": 60},
        }
    )
    cpu = limits_document("cpu", config, NCPU)
    assert cpu["cpu_total_careful"] == 70.0 and cpu["cpu_total_warning"] == 75.0
    assert cpu["cpu_iowait_log"] == ["False"]
    assert cpu["history_size"] == 50.0
    assert cpu["cpu_hysteresis"] == 2.0 and cpu["cpu_refresh"] == 5.0
    fs = limits_document("fs", config, NCPU)
    assert fs["fs_/_critical"] == 95.0 and fs["fs_critical"] == 90.0
    assert fs["fs_hide"] == ["/boot.*"]
    network = limits_document("network", config, NCPU)
    assert network["network_eth0_rx_warning"] == 1e6
    assert network["network_wlan0_rx_log"] == ["True"]
    # The reference's INI parser lower-cases option names.
    sensors = limits_document("sensors", config, NCPU)
    assert sensors["sensors_temperature_core_ambient_warning"] == 60.0


# --- views: shape ---------------------------------------------------------------------


def test_every_field_gets_a_view_of_the_reference_shape() -> None:
    network = [
        {"interface_name": "eth0", "key": "interface_name", "alias": None, "speed": 0},
        {"interface_name": "lo", "key": "interface_name", "alias": None, "speed": 0},
    ]
    verdict = judge("network", network)
    assert set(verdict.views) == {"eth0", "lo"}
    assert set(verdict.views["eth0"]) == {"interface_name", "key", "alias", "speed"}
    assert verdict.views["eth0"]["speed"] == {
        "decoration": "DEFAULT",
        "optional": False,
        "additional": False,
        "splittable": False,
        "hidden": False,
    }
    assert verdict.views["eth0"]["alias"]["optional"] is True
    percpu = judge("percpu", [{"cpu_number": 0, "key": "cpu_number", "user": 99.0}])
    assert set(percpu.views["0"]) == {"cpu_number", "key", "user"}  # keys as strings
    assert percpu.views["0"]["user"]["decoration"] == "DEFAULT"  # percpu is not judged
    assert judge("uptime", "1:02:03").views == {}
    quicklook = judge("quicklook", {"cpu": 1.0, "mem": 2.0})
    assert quicklook.views["list"] == ["cpu", "mem", "load"]


# --- views: the reference's rules, table-driven ---------------------------------------

CPU_CASES = [
    # (field, value, toml, expected decoration)
    ("total", 64.9, None, "OK_LOG"),
    ("total", 65.0, None, "CAREFUL_LOG"),
    ("total", 75.0, None, "WARNING_LOG"),
    ("total", 85.0, None, "CRITICAL_LOG"),
    ("total", 80.0, {"total_careful": 81}, "WARNING_LOG"),
    ("total", 90.0, {"total_log": False}, "CRITICAL"),
    ("total", 90.0, {"total_critical": 0}, "WARNING_LOG"),  # 0 = unset
    ("total", 90.0, {"total_careful": 0, "total_warning": 0, "total_critical": 0}, "DEFAULT"),
    ("user", 70.0, None, "WARNING"),  # user_log = False in the shipped config
    ("user", 70.0, {"user_log": True}, "WARNING_LOG"),
    ("system", 49.9, None, "OK"),
    ("iowait", 5.0, None, "CAREFUL_LOG"),  # 100 / 16 cores * 0.8; logs by default
    ("iowait", 6.25, {"iowait_log": False}, "CRITICAL"),
    ("steal", 90.0, None, "CRITICAL"),
    ("idle", 99.0, None, "DEFAULT"),
]


@pytest.mark.parametrize(("field", "value", "toml", "expected"), CPU_CASES)
def test_cpu(field: str, value: float, toml: dict[str, Any] | None, expected: str) -> None:
    data = {"total": 1.0, "user": 1.0, "system": 1.0, "iowait": 0.0, "idle": 1.0, "steal": 0.0}
    data[field] = value
    assert deco(judge("cpu", data, toml), field) == expected


def test_cpu_alerts_and_levels() -> None:
    data = {"total": 90.0, "user": 71.0, "system": 1.0, "iowait": 5.7, "cpucore": 16}
    verdict = judge("cpu", data)
    assert verdict.alerts == [["CPU_IOWAIT", "WARNING", 5.7], ["CPU_TOTAL", "CRITICAL", 90.0]]
    assert verdict.levels == {"cpu_user": 2, "cpu_system": 0, "cpu_iowait": 2, "cpu_total": 3}


@pytest.mark.parametrize(
    ("ctx_switches", "time_since_update", "expected"),
    [
        (1_279_998, 2.0, "OK"),  # / 2 cores = 639 999
        (1_280_000, 2.0, "CAREFUL"),  # / 2 cores = 640 000 = 50 000 * 16 * 0.8
        (1_600_000, 2.0, "CRITICAL"),
        (1_600_000, 0, "DEFAULT"),  # a rate field with no time span is not judged
    ],
)
def test_cpu_context_switches_per_core(
    ctx_switches: int, time_since_update: float, expected: str
) -> None:
    data = {"ctx_switches": ctx_switches, "time_since_update": time_since_update}
    assert deco(judge("cpu", data, cpucore=2), "ctx_switches") == expected


@pytest.mark.parametrize(
    ("min15", "min5", "cores", "min15_deco", "min5_deco", "alert_value"),
    [
        (1.3, 0.1, 2, "OK_LOG", "OK", 0.65),
        (1.4, 0.1, 2, "CAREFUL_LOG", "OK", 0.7),
        (2.0, 10.0, 2, "WARNING_LOG", "CRITICAL", 1.0),
        (20.0, 0.0, 4, "CRITICAL_LOG", "OK", 5.0),
    ],
)
def test_load_per_core(
    min15: float, min5: float, cores: int, min15_deco: str, min5_deco: str, alert_value: float
) -> None:
    verdict = judge("load", {"min1": 0.0, "min5": min5, "min15": min15}, cpucore=cores)
    assert deco(verdict, "min15") == min15_deco
    assert deco(verdict, "min5") == min5_deco
    assert deco(verdict, "min1") == "DEFAULT"
    [[kind, state, value]] = verdict.alerts  # min5 does not log
    assert (kind, state) == ("LOAD", min15_deco.removesuffix("_LOG"))
    assert value == pytest.approx(alert_value)
    # Both are the stat "load"; the last judged (min5) gives its level, as the reference.
    assert verdict.levels == {"load": ["OK", "CAREFUL", "WARNING", "CRITICAL"].index(min5_deco)}


@pytest.mark.parametrize("plugin", ["mem", "memswap"])
@pytest.mark.parametrize(
    ("used", "total", "expected", "alerts"),
    [
        (700, 1000, "WARNING_LOG", [["WARNING", 70.0]]),
        (100, 1000, "OK_LOG", [["OK", 10.0]]),
        (0, 0, "DEFAULT", []),  # no swap at all: nothing to judge
    ],
)
def test_mem_percent_from_used_over_total(
    plugin: str, used: int, total: int, expected: str, alerts: list[list[Any]]
) -> None:
    # ``percent`` is deliberately inconsistent: the rule uses used / total
    data = {"total": total, "used": used, "percent": 1.0}
    verdict = judge(plugin, data)
    assert deco(verdict, "percent") == expected
    assert verdict.alerts == [[plugin.upper(), *a] for a in alerts]


def test_mem_log_switched_off_plugin_wide() -> None:
    verdict = judge("mem", {"total": 100, "used": 95, "percent": 95.0}, {"log": False})
    assert deco(verdict, "percent") == "CRITICAL" and verdict.alerts == []


def _fs(mnt: str, used_percent: float, options: str = "rw") -> dict[str, Any]:
    return {
        "mnt_point": mnt,
        "key": "mnt_point",
        "options": options,
        "size": 1000,
        "free": 1000 - int(used_percent * 10),
        "used": 1,
    }


@pytest.mark.parametrize(
    ("entry", "toml", "expected"),
    [
        (_fs("/", 49.9), None, "OK"),
        (_fs("/", 95.0), None, "CRITICAL"),
        (_fs("/", 95.0), {"/_critical": 96}, "WARNING"),  # per mount; others fall back
        (_fs("/", 95.0), {"/_critical": 0}, "WARNING"),  # 0 at the mount hides fs_critical
        (_fs("/home", 95.0), {"/_critical": 96}, "CRITICAL"),
        (_fs("/srv", 60.0), {"careful": 61}, "OK"),
        (_fs("/media", 99.0, "ro,nosuid"), None, "DEFAULT"),  # read-only: not judged
    ],
)
def test_fs_used_against_size(
    entry: dict[str, Any], toml: dict[str, Any] | None, expected: str
) -> None:
    verdict = judge("fs", [entry], toml)
    assert deco(verdict, entry["mnt_point"], "used") == expected
    assert verdict.alerts == []  # fs does not log by default


def test_fs_log_switch_per_mount() -> None:
    verdict = judge("fs", [_fs("/", 95.0)], {"/_log": True})
    assert deco(verdict, "/", "used") == "CRITICAL_LOG"
    assert verdict.alerts == [["FS_/", "CRITICAL", 95.0]]


def _nic(name: str, rx_bps: float, tx_bps: float, speed_mbit: int, tsu: float = 2.0) -> Any:
    return {
        "interface_name": name,
        "key": "interface_name",
        "alias": None,
        "bytes_recv": int(rx_bps / 8 * tsu),
        "bytes_recv_rate_per_sec": rx_bps / 8,
        "bytes_sent": int(tx_bps / 8 * tsu),
        "bytes_sent_rate_per_sec": tx_bps / 8,
        "speed": speed_mbit * MBIT,
        "time_since_update": tsu,
    }


@pytest.mark.parametrize(
    ("entry", "toml", "rx", "tx"),
    [
        # percent of the link speed, in bits per second
        (_nic("eth0", 0.95 * 10 * MBIT, 0.1 * 10 * MBIT, 10), None, "CRITICAL", "OK"),
        (_nic("eth0", 0.75 * 10 * MBIT, 0.85 * 10 * MBIT, 10), None, "CAREFUL", "WARNING"),
        # no speed: nothing to judge against
        (_nic("eth0", 1e9, 1e9, 0), None, "DEFAULT", "DEFAULT"),
        # absolute per-interface limits win over the speed
        (_nic("eth0", 1.2e6, 0, 0), {"eth0_rx_warning": 1e6}, "WARNING", "DEFAULT"),
        (_nic("eth0", 1.2e6, 0, 10), {"eth0_rx_warning": 1e6}, "WARNING", "OK"),
        (_nic("eth0:1", 1.2e6, 0, 0), {"eth0_rx_warning": 1e6}, "WARNING", "DEFAULT"),
        (_nic("wlan0", 1.2e6, 0, 0), {"eth0_rx_warning": 1e6}, "DEFAULT", "DEFAULT"),
        # no time span: not judged
        (_nic("eth0", 0, 0, 10, tsu=0), None, "DEFAULT", "DEFAULT"),
    ],
)
def test_network_bits_per_second(
    entry: dict[str, Any], toml: dict[str, Any] | None, rx: str, tx: str
) -> None:
    verdict = judge("network", [entry], toml)
    name = entry["interface_name"]
    assert deco(verdict, name, "bytes_recv") == rx
    assert deco(verdict, name, "bytes_recv_rate_per_sec") == rx
    assert deco(verdict, name, "bytes_sent") == tx
    # The reference's bug (tx rate decorated with rx) is not reproduced.
    assert deco(verdict, name, "bytes_sent_rate_per_sec") == tx
    assert deco(verdict, name, "speed") == "DEFAULT"


def test_network_log_switch_per_interface() -> None:
    toml = {"wlan0_rx_warning": 1e6, "wlan0_rx_log": True}
    verdict = judge("network", [_nic("wlan0", 1.2e6, 0, 0)], toml)
    assert deco(verdict, "wlan0", "bytes_recv") == "WARNING_LOG"
    assert verdict.alerts == [["NETWORK_WLAN0_RX", "WARNING", 1.2e6]]
    assert verdict.levels == {"network_wlan0_rx": 2}


def test_a_memo_kept_across_samples_changes_no_verdict() -> None:
    """The stage hands every sample of a plugin the same memo (limits looked up once per
    stat): each verdict equals the one judged without it, and item names that come and
    go (containers' interfaces) cannot grow it without bound."""
    from pipeline.plugins.judge import MEMO_SIZE

    toml = {"wlan0_rx_warning": 1e6, "wlan0_rx_log": True, "rx_log": False, "tx_careful": 10.0}
    config = from_mapping({"network": toml})
    limits = effective_limits("network", config.plugins["network"], NCPU)
    memo: dict[str, Any] = {}
    samples = [
        [_nic("wlan0", 1.2e6 * k, 0, 0), _nic("eth0", 0.2 * k * 10 * MBIT, 0.5 * MBIT, 10)]
        for k in (0, 1, 4, 2)
    ]
    for data in samples:
        assert compute_views("network", data, limits, memo=memo) == compute_views(
            "network", data, limits
        )
    assert compute_views("network", samples[1], limits, memo=memo).alerts == [
        ["NETWORK_WLAN0_RX", "WARNING", 1.2e6]
    ]
    for n in range(MEMO_SIZE + 10):
        data = [_nic(f"veth{n}", 1.0, 1.0, 10)]
        assert compute_views("network", data, limits, memo=memo) == compute_views(
            "network", data, limits
        )
        assert len(memo) <= MEMO_SIZE


def test_diskio_absolute_limits_and_latency() -> None:
    disk = {
        "disk_name": "sda",
        "key": "disk_name",
        "read_bytes": 4000,
        "read_bytes_rate_per_sec": 2000.0,
        "write_bytes": 0,
        "write_bytes_rate_per_sec": 0.0,
        "read_latency": 25,
        "write_latency": 3,
        "time_since_update": 2.0,
    }
    verdict = judge("diskio", [disk], {"sda_rx_careful": 1000})
    assert deco(verdict, "sda", "read_bytes") == "CAREFUL"
    assert deco(verdict, "sda", "read_bytes_rate_per_sec") == "CAREFUL"
    assert deco(verdict, "sda", "write_bytes") == "DEFAULT"  # no sda_tx limits
    assert deco(verdict, "sda", "read_latency") == "WARNING"  # 10/20/50 ms
    assert deco(verdict, "sda", "write_latency") == "OK"


def _sensor(label: str, kind: str, value: float, warning: Any = None, critical: Any = None) -> Any:
    return {
        "label": label,
        "key": "label",
        "type": kind,
        "unit": "C",
        "value": value,
        "warning": warning,
        "critical": critical,
    }


@pytest.mark.parametrize(
    ("entry", "toml", "expected"),
    [
        # no limits configured: the sensor's own high / critical (psutil)
        (_sensor("Ambient", "temperature_core", 62, 80, 100), None, "OK"),
        (_sensor("Ambient", "temperature_core", 85, 80, 100), None, "WARNING"),
        (_sensor("Ambient", "temperature_core", 100, 80, 100), None, "CRITICAL"),
        (_sensor("Ambient", "temperature_core", 62), None, "DEFAULT"),
        # per label, then per type
        (
            _sensor("Ambient", "temperature_core", 62, 80, 100),
            {"temperature_core_Ambient_warning": 60},
            "WARNING",
        ),
        (
            _sensor("Core 0", "temperature_core", 62, 80, 100),
            {"temperature_core_Ambient_warning": 60},
            "OK",
        ),
        (
            _sensor("Core 0", "temperature_core", 62, 80, 100),
            {"temperature_core_careful": 45, "temperature_core_warning": 65},
            "CAREFUL",
        ),
        (_sensor("nvme0", "temperature_hdd", 53), None, "WARNING"),  # 45/52/60
        (_sensor("BAT0", "battery", 25), None, "CAREFUL"),  # 100 - 25 = 75 used
        (_sensor("BAT0", "battery", 95), None, "OK"),
        (_sensor("BAT0", "battery", 0), None, "DEFAULT"),
    ],
)
def test_sensors(entry: dict[str, Any], toml: dict[str, Any] | None, expected: str) -> None:
    assert deco(judge("sensors", [entry], toml), entry["label"], "value") == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("cpu", 72.0, "WARNING"),
        ("mem", 10.0, "OK"),
        ("swap", 91.0, "CRITICAL"),
        ("load", 120.0, "WARNING"),
    ],
)
def test_quicklook_percents(field: str, value: float, expected: str) -> None:
    data = {"cpu": 0.0, "mem": 0.0, "swap": 0.0, "load": 0.0, "cpu_name": "x"}
    data[field] = value
    verdict = judge("quicklook", data)
    assert deco(verdict, field) == expected
    assert deco(verdict, "cpu_name") == "DEFAULT"


# --- hysteresis ---------------------------------------------------------------------


def _series(values: list[float], hysteresis: float) -> list[str]:
    held: dict[str, int] | None = None
    out = []
    for total in values:
        verdict = judge("cpu", {"total": total}, previous=held, hysteresis=hysteresis)
        held = verdict.held
        out.append(deco(verdict, "total").removesuffix("_LOG"))
    return out


def test_hysteresis_holds_a_level_until_the_value_falls_that_far_below() -> None:
    # thresholds 65 / 75 / 85; with 5 points a level is left at threshold - 5
    values = [86.0, 82.0, 80.1, 80.0, 72.0, 70.0, 90.0]
    assert _series(values, 5.0) == [
        "CRITICAL",
        "CRITICAL",  # 82 > 85 - 5
        "CRITICAL",
        "WARNING",  # 80 is not above 80: released
        "WARNING",  # 72 > 75 - 5
        "CAREFUL",
        "CRITICAL",  # going up is immediate
    ]


def test_hysteresis_does_not_depend_on_the_path() -> None:
    # 74.9 is within 5 points of the warning threshold (75): WARNING, whether the value
    # fell from CRITICAL (86) or from WARNING (80).
    assert _series([86.0, 74.9], 5.0) == ["CRITICAL", "WARNING"]
    assert _series([80.0, 74.9], 5.0) == ["WARNING", "WARNING"]
    assert _series([86.0, 69.0], 5.0) == ["CRITICAL", "CAREFUL"]


def test_no_hysteresis_is_the_reference() -> None:
    assert _series([86.0, 82.0, 72.0, 64.0], 0.0) == ["CRITICAL", "WARNING", "CAREFUL", "OK"]


def test_hysteresis_is_per_item() -> None:
    hot, cool = _nic("eth0", 0.95 * 10 * MBIT, 0, 10), _nic("eth1", 0.10 * 10 * MBIT, 0, 10)
    first = judge("network", [hot, cool], hysteresis=10.0)
    hot["bytes_recv_rate_per_sec"] = 0.85 * 10 * MBIT / 8  # within 10 points of 90
    second = judge("network", [hot, cool], previous=first.held, hysteresis=10.0)
    assert deco(second, "eth0", "bytes_recv") == "CRITICAL"
    assert deco(second, "eth1", "bytes_recv") == "OK"  # eth1 shares the stat name only


def test_hysteresis_alerts_report_the_held_level() -> None:
    first = judge("cpu", {"total": 90.0}, hysteresis=5.0)
    second = judge("cpu", {"total": 83.0}, previous=first.held, hysteresis=5.0)
    assert second.alerts == [["CPU_TOTAL", "CRITICAL", 83.0]]
    assert second.levels == {"cpu_total": 3}


# --- the stage -----------------------------------------------------------------------


async def test_stage_publishes_a_verdict_for_every_sample() -> None:
    bus = Bus()
    config = from_mapping({"cpu": {"hysteresis": 5}})
    stage = ThresholdStage(bus, config, ["cpu", "load", "mem"], ncpu=NCPU)
    assert stage.views("cpu") == {}
    assert stage.limits("cpu")["cpu_hysteresis"] == 5.0
    assert set(stage.all_limits()) == {"cpu", "load", "mem"}
    samples = [
        StatEvent("cpu", 1.0, 1, {"total": 90.0, "user": 1.0, "cpucore": 2}),
        StatEvent("cpu", 3.0, 2, {"total": 82.0, "user": 1.0, "cpucore": 2}),  # held
        StatEvent("cpu", 5.0, 3, {"total": 10.0, "user": 1.0, "cpucore": 2}),
        StatEvent("load", 5.0, 1, {"min1": 0.0, "min5": 0.0, "min15": 2.8, "cpucore": 2}),
        StatEvent("processcount", 5.0, 1, {"total": 3}),  # not served: no verdict
        StatEvent("mem", 6.0, 1, {"total": 100, "used": 91, "percent": 91.0}),
    ]
    received: list[ViewsEvent] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with bus.subscribe(VIEWS_TOPIC, name="test", policy=Policy.LOSSLESS) as sub:
                await nursery.start(stage.run)
                for event in samples:
                    await bus.publish(STATS_TOPIC, event)
                while len(received) < 5:
                    received.append(await sub.receive())
            nursery.cancel_scope.cancel()
    assert [(v.plugin, v.ts) for v in received] == [
        ("cpu", 1.0),
        ("cpu", 3.0),
        ("cpu", 5.0),
        ("load", 5.0),
        ("mem", 6.0),
    ]
    assert [v.alerts for v in received[:3]] == [
        [["CPU_TOTAL", "CRITICAL", 90.0]],
        [["CPU_TOTAL", "CRITICAL", 82.0]],
        [["CPU_TOTAL", "OK", 10.0]],
    ]
    assert [v.levels["cpu_total"] for v in received[:3]] == [3, 3, 0]
    assert received[2].views["total"]["decoration"] == "OK_LOG"
    # load: min15 2.8 on 2 cores (from the data, not the host) = 1.4 per core
    assert received[3].alerts == [["LOAD", "WARNING", 1.4]]
    assert received[4].alerts == [["MEM", "CRITICAL", 91.0]]
    assert stage.views("cpu") == received[2].views
    assert stage.views("mem")["percent"]["decoration"] == "CRITICAL_LOG"
    assert stage.levels("load") == {"load": 0}


async def test_stage_survives_data_it_cannot_judge() -> None:
    stage = ThresholdStage(Bus(), Config(), ["mem", "fs"], ncpu=2)
    assert stage.judge(StatEvent("mem", 1.0, 1, {"total": "a lot", "used": 3})) is not None
    assert stage.judge(StatEvent("fs", 1.0, 1, [None, {"mnt_point": "/", "size": None}]))
    verdict = stage.judge(StatEvent("mem", 2.0, 2, {"total": 10, "used": 9}))
    assert verdict is not None and verdict.levels == {"mem": 3}


async def test_plugins_without_rules_publish_no_views_but_answer_them() -> None:
    """processlist has no threshold rule: no ViewsEvent on the bus (they would be all
    DEFAULT, and large), but its views are made on request, once per sample."""
    from pipeline.bus import Bus, Policy
    from pipeline.config import load
    from pipeline.stages.thresholds import ThresholdStage
    from pipeline.topics import STATS_TOPIC, VIEWS_TOPIC

    bus = Bus()
    stage = ThresholdStage(bus, load(), ["processlist", "mem", "alert"], ncpu=2)
    procs = [{"pid": 1, "key": "pid", "name": "init", "cpu_percent": 99.0}]
    mem = {"total": 100, "used": 95, "percent": 95.0, "available": 5}
    with trio.fail_after(5), bus.subscribe(VIEWS_TOPIC, name="t", policy=Policy.LOSSLESS) as sub:
        async with trio.open_nursery() as nursery:
            await nursery.start(stage.run)
            await bus.publish(STATS_TOPIC, StatEvent("processlist", 1.0, 1, procs))
            await bus.publish(STATS_TOPIC, StatEvent("alert", 1.0, 1, []))
            await bus.publish(STATS_TOPIC, StatEvent("mem", 1.0, 1, mem))
            published = await sub.receive()
            assert published.plugin == "mem"  # the first and only one
            assert published.views["percent"]["decoration"] == "CRITICAL_LOG"
            assert stage.views("processlist")["1"]["cpu_percent"]["decoration"] == "DEFAULT"
            assert stage.limits("alert") == {"alert_disable": ["False"], "history_size": 1200.0}
            nursery.cancel_scope.cancel()


async def test_a_rounds_verdicts_are_handed_on_together() -> None:
    """A round published at once is judged in one wake-up; its verdicts reach the
    alert stage as one burst, in order.  Without a views subscriber nothing is encoded
    (the alert stage is disabled) but the views are still kept for the API."""
    from pipeline import codec

    bus = Bus()
    stage = ThresholdStage(bus, load(), ["cpu", "load", "mem"], ncpu=2)
    round_ = [
        StatEvent("cpu", 1.0, 1, {"total": 90.0, "user": 1.0, "cpucore": 2}).to_msgpack(),
        StatEvent("processcount", 1.0, 1, {"total": 3}).to_msgpack(),
        StatEvent("load", 1.0, 1, {"min1": 0.0, "min5": 0.0, "min15": 0.1}).to_msgpack(),
        StatEvent("mem", 1.0, 1, {"total": 100, "used": 20, "percent": 20.0}).to_msgpack(),
    ]
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(stage.run)
            await bus.publish_many(STATS_TOPIC, round_)
            await trio.testing.wait_all_tasks_blocked()
            assert stage.views("mem")["percent"]["decoration"] == "OK_LOG"
            with bus.subscribe(VIEWS_TOPIC, name="t", policy=Policy.LOSSLESS) as sub:
                await bus.publish_many(STATS_TOPIC, round_)
                burst = await sub.receive_batch()
            nursery.cancel_scope.cancel()
    assert [codec.decode(raw).plugin for raw in burst] == ["cpu", "load", "mem"]
