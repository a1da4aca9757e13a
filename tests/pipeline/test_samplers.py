"""The sampler families on the real machine: shapes, types, formulas and priming.

Each family is called twice, as the runner calls it (the second time with the first
call's state, after a short real pause), and its Glances v4 output is checked against
psutil and the formulas of the reference.  Faults (a mount that cannot be read, sensors
that psutil cannot read) are injected at the psutil boundary.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import platform
import re
import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import msgpack
import orjson
import psutil
import pytest

import pipeline
from pipeline.config import Config, GlobalConfig
from pipeline.events import StatEvent
from pipeline.plugins import PLUGINS, SAMPLED
from pipeline.samplers import all_samplers, cpu, disk, memory, network, procfs, sensors, system
from pipeline.stages.state import to_json
from tests.pipeline.sampler_helpers import check_rate, context, two_rounds

#: plugins that need two readings (rates, CPU percentages) and so wait a round
PRIMED = {
    "cpu", "percpu", "quicklook", "memswap", "network", "diskio", "processlist", "programlist",
    "irq",
}  # fmt: skip


# --- all families ----------------------------------------------------------------------


def test_every_plugin_is_produced_by_exactly_one_family() -> None:
    specs = all_samplers()
    produced = [p for spec in specs for p in spec.plugins]
    assert sorted(produced) == sorted(SAMPLED)  # alert comes from the alert stage
    assert len({spec.name for spec in specs}) == len(specs)


@pytest.fixture(scope="module")
def rounds() -> dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]]:
    """Every family sampled twice with every plugin enabled, all in one pause."""
    ctx = context()
    firsts = {spec.name: spec.sample(None, ctx) for spec in all_samplers()}
    time.sleep(0.25)
    out = {}
    for spec in all_samplers():
        first, state = firsts[spec.name]
        snapshot = None if spec.name == "processes" else copy.deepcopy(state)
        second, state2 = spec.sample(state, ctx)
        if snapshot is not None:  # the previous state is left exactly as it was
            assert state == snapshot, spec.name
        out[spec.name] = (first, state, second, state2)
    return out


def test_first_round_primes_only_the_plugins_that_need_two_readings(
    rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]],
) -> None:
    first = {p for (data, _, _, _) in rounds.values() for p in data}
    assert first == set(SAMPLED) - PRIMED


def test_second_round_publishes_every_plugin_as_msgpack_and_json(
    rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]],
) -> None:
    second = {p: v for (_, _, data, _) in rounds.values() for p, v in data.items()}
    assert set(second) == set(SAMPLED)
    for plugin, value in second.items():
        info = PLUGINS[plugin]
        expected_type = {"list": list, "dict": dict, "value": str}[info.kind]
        if info.absent == "dict" and value == {}:  # smart, vms: no tool here
            expected_type = dict
        assert isinstance(value, expected_type), plugin
        if info.kind == "list" and info.key != "name":
            assert all(e["key"] == info.key and info.key in e for e in value), plugin
        # the pipeline's own path: msgpack over the bus, JSON for the API
        event = StatEvent.from_msgpack(StatEvent(plugin, 1.0, 1, value).to_msgpack())
        assert isinstance(event, StatEvent)
        assert orjson.loads(to_json(event.data)) == orjson.loads(orjson.dumps(value))
        assert msgpack.unpackb(msgpack.packb(value), strict_map_key=False) is not None


@pytest.mark.parametrize(
    ("family", "only", "absent"),
    [
        ("cpu", "percpu", "cpu"),
        ("cpu", "cpu", "percpu"),
        ("load", "core", "load"),
        ("memory", "memswap", "mem"),
        ("memory", "mem", "memswap"),
        ("clock", "now", "uptime"),
        ("versions", "version", "psutilversion"),
    ],
)
def test_disabled_plugins_are_not_produced(family: str, only: str, absent: str) -> None:
    spec = next(s for s in all_samplers() if s.name == family)
    first, _, second, _ = two_rounds(spec.sample, context([only]), pause=0.05)
    assert absent not in first and absent not in second
    assert only in second


# --- cpu, percpu, load, core, quicklook ------------------------------------------------

CpuTimes = type(psutil.cpu_times())


def times(**values: float) -> Any:
    return CpuTimes(**{f: values.get(f, 0.0) for f in CpuTimes._fields})


def test_cpu_percentages_use_psutil_formulas_on_the_real_interval() -> None:
    before = times(user=10, system=5, idle=80, iowait=5, guest=3)
    # user includes guest time: 30 s of user of which 20 s guest; 100 s of CPU in all
    after = times(user=40, system=15, idle=130, iowait=15, guest=23)
    total, pct = cpu.times_percent(before, after)
    assert total == 40.0  # busy = 100 - idle 50 - iowait 10
    assert (pct["user"], pct["system"], pct["idle"], pct["iowait"]) == (30.0, 10.0, 50.0, 10.0)
    assert pct["guest"] == 20.0
    # a short interval (0.4 s of CPU) is not divided by psutil's 1 s floor
    total, pct = cpu.times_percent(times(user=1, idle=1), times(user=1.1, idle=1.4))
    assert (total, pct["user"], pct["idle"]) == (20.0, 20.0, 80.0)
    # counters that went backwards count as 0; no time at all is 0 %, not a crash
    total, pct = cpu.times_percent(times(user=5, idle=5), times(user=4, idle=6))
    assert (total, pct["idle"], pct["user"]) == (0.0, 100.0, 0.0)
    assert cpu.times_percent(times(idle=1), times(idle=1))[0] == 0.0


def test_cpu_and_percpu_on_this_machine(
    rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]],
) -> None:
    _, state1, data, state2 = rounds["cpu"]
    c = data["cpu"]
    for name in ("total", *cpu.CPU_FIELDS):
        assert 0.0 <= c[name] <= 100.0 and isinstance(c[name], float), name
    assert c["total"] == cpu.times_percent(state1.times, state2.times)[0]
    assert c["cpucore"] == psutil.cpu_count()
    assert c["time_since_update"] == pytest.approx(state2.ts - state1.ts)
    for name in cpu.CPU_COUNTERS:
        check_rate(c, name, getattr(state1.stats, name))
    percpu = data["percpu"]
    assert [e["cpu_number"] for e in percpu] == list(range(psutil.cpu_count()))
    for entry in percpu:
        assert entry["total"] == round(100.0 - entry["idle"], 1)
        assert entry["dpc"] is None and entry["interrupt"] is None
        assert all(0.0 <= entry[f] <= 100.0 for f in cpu.PERCPU_FIELDS)
    # guest_nice comes from guest_nice (the reference copies steal into it)
    _, expected = cpu.times_percent(state1.percpu[0], state2.percpu[0])
    assert percpu[0]["guest_nice"] == expected["guest_nice"]
    assert percpu[0]["steal"] == expected["steal"]


def test_load_core_and_quicklook(
    rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]],
) -> None:
    first, cores, _, cores2 = rounds["load"]
    assert first["core"] == {"log": psutil.cpu_count(), "phys": psutil.cpu_count(logical=False)}
    assert cores2 is cores  # the physical count is read again only when CPUs come or go
    assert set(first["load"]) == {"min1", "min5", "min15", "cpucore"}
    q = rounds["quicklook"][2]["quicklook"]
    assert 0.0 <= q["cpu"] <= 100.0
    assert len(q["percpu"]) == psutil.cpu_count() == q["cpu_log_core"]
    assert q["load"] == pytest.approx(psutil.getloadavg()[2] / psutil.cpu_count() * 100, abs=5)
    assert q["mem"] == pytest.approx(psutil.virtual_memory().percent, abs=5)
    assert isinstance(q["cpu_name"], str) and q["cpu_name"]
    for hz in (q["cpu_hz"], q["cpu_hz_current"]):
        assert hz is None or hz > 1e6
    if Path("/proc/cpuinfo").exists() and "model name" in Path("/proc/cpuinfo").read_text():
        assert q["cpu_name"] in Path("/proc/cpuinfo").read_text()


# --- mem, memswap ----------------------------------------------------------------------


def test_mem_and_memswap(
    rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]],
) -> None:
    first, _, second, _ = rounds["memory"]
    for mem in (first["mem"], second["mem"]):
        assert mem["used"] == mem["total"] - mem["available"]
        assert 0.0 <= mem["percent"] <= 100.0
        assert mem["percent_min"] <= mem["percent_mean"] <= mem["percent_max"]
        assert mem["percent_min"] <= mem["percent"] <= mem["percent_max"]
    swap = second["memswap"]
    assert set(swap) == {"total", "used", "free", "percent", "sin", "sout", "time_since_update"}
    assert swap["time_since_update"] > 0
    assert swap["total"] == psutil.swap_memory().total


def test_mem_min_max_and_mean_are_tracked_since_start() -> None:
    ctx = context(["mem"])
    previous = memory.MemoryState(time.monotonic(), 0.5, 99.5, 50.0, 9)
    data, state = memory.sample_memory(previous, ctx)
    percent = data["mem"]["percent"]
    assert (data["mem"]["percent_min"], data["mem"]["percent_max"]) == (0.5, 99.5)
    assert data["mem"]["percent_mean"] == pytest.approx(50.0 + (percent - 50.0) / 10)
    assert state.count == 10
    # the mean's sample count stops growing at the window
    full = dataclasses.replace(previous, count=memory.MEAN_WINDOW)
    data, state = memory.sample_memory(full, ctx)
    assert state.count == memory.MEAN_WINDOW
    expected = 50.0 + (data["mem"]["percent"] - 50.0) / memory.MEAN_WINDOW
    assert data["mem"]["percent_mean"] == pytest.approx(expected)


# --- network, ip -----------------------------------------------------------------------


def test_network_rates(rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]]) -> None:
    _, state1, data, _ = rounds["network"]
    entries = data["network"]
    stats, addrs = psutil.net_if_stats(), psutil.net_if_addrs()
    # by default, as the reference ships it, interfaces down or without address are hidden
    listed = {
        name
        for name in psutil.net_io_counters(pernic=True)
        if name in stats
        and stats[name].isup
        and any(a.family != psutil.AF_LINK for a in addrs.get(name, []))
    }
    assert {e["interface_name"] for e in entries} == listed
    for e in entries:
        sent, recv = state1.counters[e["interface_name"]]
        check_rate(e, "bytes_sent", sent)
        check_rate(e, "bytes_recv", recv)
        check_rate(e, "bytes_all", sent + recv)
        assert e["bytes_all_gauge"] == e["bytes_sent_gauge"] + e["bytes_recv_gauge"]
        assert e["alias"] is None
        assert e["is_up"] is stats[e["interface_name"]].isup
        assert e["speed"] == stats[e["interface_name"]].speed * 1048576


def test_a_new_interface_gets_zero_rates_and_a_reset_counter_counts_zero() -> None:
    ctx = context(["network"])
    _, real = network.sample_network(None, ctx)
    names = sorted(real.counters)
    new, reset = names[0], names[-1]
    counters = {n: c for n, c in real.counters.items() if n != new}
    counters[reset] = (real.counters[reset][0] + 10**12, real.counters[reset][1] + 10**12)
    previous = network.NetworkState(time.monotonic() - 2.0, counters)
    data, _ = network.sample_network(previous, ctx)
    by_name = {e["interface_name"]: e for e in data["network"]}
    for name in (new, reset):
        entry = by_name[name]
        for field in ("bytes_sent", "bytes_recv", "bytes_all"):
            assert entry[field] == 0 and entry[f"{field}_rate_per_sec"] == 0.0
            assert entry[f"{field}_gauge"] >= 0
        assert entry["time_since_update"] == pytest.approx(2.0, abs=0.5)


def test_default_route_parsing(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth1\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        "eth2\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"
    )
    assert network.default_route(route) == ("eth0", "192.0.2.1")
    assert network.default_route(tmp_path / "missing") is None


def test_ip(rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]]) -> None:
    ip = rounds["ip"][0]["ip"]
    route = network.default_route()
    if not ip:
        pytest.skip("no IPv4 address on an up, non-loopback interface here")
    assert set(ip) == {"address", "mask", "mask_cidr", "gateway"}
    assert not ip["address"].startswith("127.")
    assert ip["mask_cidr"] == sum(bin(int(o)).count("1") for o in ip["mask"].split("."))
    assert ip["gateway"] == (route[1] if route else None)


# --- diskio, fs ------------------------------------------------------------------------


def test_diskio(rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]]) -> None:
    _, state1, data, _ = rounds["diskio"]
    names = {n for n in psutil.disk_io_counters(perdisk=True) if not n.startswith("ram")}
    assert {e["disk_name"] for e in data["diskio"]} == names
    for e in data["diskio"]:
        for i, field in enumerate(disk.DISKIO_COUNTERS):
            check_rate(e, field, state1.counters[e["disk_name"]][i])
        for op in ("read", "write"):
            count, spent = e[f"{op}_count"], e[f"{op}_time"]
            assert e[f"{op}_latency"] == (int(spent / count) if count else 0)


def test_diskio_latency_is_time_per_operation() -> None:
    ctx = context(["diskio"])
    _, real = disk.sample_diskio(None, ctx)
    if not real.counters:
        pytest.skip("no disk here")
    # pretend that 10 reads took 55 ms and 4 writes 100 ms since two seconds ago
    shift = (10, 4, 0, 0, 55, 100)
    counters = {
        n: tuple(v - s for v, s in zip(c, shift, strict=True)) for n, c in real.counters.items()
    }
    data, _ = disk.sample_diskio(disk.DiskioState(time.monotonic() - 2.0, counters), ctx)
    for e in data["diskio"]:
        assert e["read_count"] >= 10 and e["write_count"] >= 4
        assert e["read_latency"] == int(e["read_time"] / e["read_count"])
        assert e["write_latency"] == int(e["write_time"] / e["write_count"])
        assert e["time_since_update"] >= 2.0


def test_fs_matches_disk_usage(
    rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]],
) -> None:
    entries = rounds["fs"][0]["fs"]
    mounts = {p.mountpoint for p in psutil.disk_partitions(all=False)}
    assert {e["mnt_point"] for e in entries} == mounts
    for e in entries:
        usage = psutil.disk_usage(e["mnt_point"])
        assert e["size"] == usage.total
        assert e["percent"] == pytest.approx(usage.percent, abs=1.0)
        assert e["used"] + e["free"] <= e["size"] or e["fs_type"] in {"btrfs", "zfs"}


def test_fs_skips_a_mount_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    real = procfs.disk_partitions

    def with_a_dead_mount() -> list[Any]:
        part = real()[0]
        return [*real(), part._replace(mountpoint="/nonexistent/statbus-test")]

    monkeypatch.setattr(procfs, "disk_partitions", with_a_dead_mount)
    data, _ = disk.sample_fs(None, context(["fs"]))
    mounts = [e["mnt_point"] for e in data["fs"]]
    assert "/nonexistent/statbus-test" not in mounts
    assert mounts == [p.mountpoint for p in psutil.disk_partitions(False)]


# --- sensors ---------------------------------------------------------------------------

Temp = namedtuple("Temp", "label current high critical")
Fan = namedtuple("Fan", "label current")
Battery = namedtuple("Battery", "percent secsleft power_plugged")


def test_sensors_on_this_machine(
    rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]],
) -> None:
    entries = rounds["sensors"][0]["sensors"]
    assert len({e["label"] for e in entries}) == len(entries)
    for e in entries:
        assert e["type"] in {"temperature_core", "temperature_hdd", "fan_speed", "battery"}
        assert isinstance(e["value"], int) and e["unit"] in {"C", "R", "%"}


def test_sensors_shape_labels_and_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sensors, "present", lambda name: True)
    temps = {
        "coretemp": [Temp("Core 0", 45.7, 80.0, 100.0), Temp("Core 0", 47.2, None, None)],
        "acpitz": [Temp("", 30.0, None, None)],
        "nvme": [Temp("Composite", 38.9, 84.85, 84.85)],
    }
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: temps, raising=False)
    monkeypatch.setattr(
        psutil, "sensors_fans", lambda: {"dell_smm": [Fan("", 2400)]}, raising=False
    )
    monkeypatch.setattr(
        psutil, "sensors_battery", lambda: Battery(81.6, 3600, False), raising=False
    )
    entries, _ = sensors.sample_sensors(None, context(["sensors"]))
    assert [
        (e["label"], e["type"], e["unit"], e["value"], e["warning"], e["critical"])
        for e in entries["sensors"]
    ] == [
        ("Core 0", "temperature_core", "C", 45, 80, 100),
        ("Core 0 1", "temperature_core", "C", 47, None, None),
        ("acpitz 0", "temperature_core", "C", 30, None, None),
        ("Composite", "temperature_hdd", "C", 38, 84, 84),
        ("dell_smm 0", "fan_speed", "R", 2400, None, None),
        ("Battery", "battery", "%", 81, None, None),
    ]


def test_sensors_that_cannot_be_read_are_an_empty_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sensors, "present", lambda name: True)

    def broken() -> Any:
        raise OSError("no hwmon")

    monkeypatch.setattr(psutil, "sensors_temperatures", broken, raising=False)
    monkeypatch.delattr(psutil, "sensors_fans", raising=False)
    monkeypatch.setattr(psutil, "sensors_battery", lambda: None, raising=False)
    assert sensors.sample_sensors(None, context(["sensors"]))[0] == {"sensors": []}


def test_psutil_is_not_asked_where_its_sysfs_globs_would_find_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dirs = {name: tmp_path / name for name in ("HWMON", "THERMAL", "PLATFORM", "POWER")}
    for name, path in dirs.items():
        path.mkdir()
        monkeypatch.setattr(sensors, name, str(path))
    (dirs["THERMAL"] / "cooling_device0").mkdir()  # not a thermal zone
    (dirs["PLATFORM"] / "serial8250").mkdir()
    (dirs["POWER"] / "AC").mkdir()

    def must_not_run() -> Any:
        raise AssertionError("psutil asked though there is nothing to find")

    for fn in ("sensors_temperatures", "sensors_fans", "sensors_battery"):
        monkeypatch.setattr(psutil, fn, must_not_run, raising=False)
    assert sensors.sample_sensors(None, context(["sensors"]))[0] == {"sensors": []}
    # where psutil's globs could find something, psutil is asked
    (dirs["POWER"] / "BAT0").mkdir()
    assert sensors.present("sensors_battery")
    assert not sensors.present("sensors_temperatures")
    (dirs["THERMAL"] / "thermal_zone0").mkdir()
    assert sensors.present("sensors_temperatures") and not sensors.present("sensors_fans")
    (dirs["THERMAL"] / "thermal_zone0").rmdir()
    (dirs["PLATFORM"] / "coretemp.0").mkdir()
    assert sensors.present("sensors_temperatures") and not sensors.present("sensors_fans")
    (dirs["HWMON"] / "hwmon0").mkdir()
    assert sensors.present("sensors_fans")
    # and the answer matches psutil's on this machine
    monkeypatch.undo()
    for fn in ("sensors_temperatures", "sensors_fans", "sensors_battery"):
        if not sensors.present(fn) and hasattr(psutil, fn):
            try:
                assert not getattr(psutil, fn)()
            except OSError:  # no /sys/class/power_supply at all
                pass


# --- system, uptime, now, versions -----------------------------------------------------


def test_system(rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]]) -> None:
    s = rounds["system"][0]["system"]
    assert s["os_name"] == platform.system() and s["os_version"] == platform.release()
    assert s["platform"] == "64bit" and s["hostname"] == platform.node()
    release = platform.freedesktop_os_release()
    assert s["linux_distro"] == f"{release['NAME']} {release['VERSION_ID']}".strip()
    assert s["hr_name"] == f"{s['linux_distro']} 64bit / Linux {s['os_version']}"


def test_uptime_now_and_versions(
    rounds: dict[str, tuple[dict[str, Any], Any, dict[str, Any], Any]],
) -> None:
    clock = rounds["clock"][0]
    assert re.fullmatch(r"(\d+ days?, )?\d{1,2}:\d\d:\d\d", clock["uptime"])
    assert system.uptime_text(3 * 86400 + 10 * 3600 + 25 * 60 + 20.9) == "3 days, 10:25:20"
    assert system.uptime_text(167) == "0:02:47"
    iso = dt.datetime.fromisoformat(clock["now"]["iso"])
    assert iso.tzinfo is not None and iso.microsecond == 0
    assert abs(iso.timestamp() - time.time()) < 5
    versions = rounds["versions"][0]
    assert versions == {"version": pipeline.__version__, "psutilversion": psutil.__version__}


def test_now_custom_uses_the_configured_format() -> None:
    config = Config(global_=GlobalConfig(strftime_format="%Y|%H"))
    data, _ = system.sample_clock(None, context(["now"], config=config))
    iso = dt.datetime.fromisoformat(data["now"]["iso"])
    assert data["now"]["custom"] == iso.strftime("%Y|%H")
