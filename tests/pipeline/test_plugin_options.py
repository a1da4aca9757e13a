"""The options of the existing plugins (docs/plugins/options.md).

* ``alias`` and ``hide``/``show``, applied by the runner to every list plugin
  (:func:`pipeline.plugins.items.item_rules`);
* network ``hide_no_up`` / ``hide_no_ip`` (psutil and procfs faked at the boundary, and
  live: this machine's down, address-less interfaces);
* fs ``allow`` (a mount table in ``tmp_path``, and live);
* processlist ``sort_key`` (crafted entries, the ``fixtures/proc`` tree, and live).
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from pipeline.config import Config, from_mapping
from pipeline.plugins.items import display_filter, item_rules
from pipeline.runner import SampleContext
from pipeline.samplers import disk, network, processes, procfs, sensors
from tests.pipeline.sampler_helpers import LOOPBACK_ONLY, context, two_rounds


def config(**sections: dict[str, Any]) -> Config:
    return from_mapping({**LOOPBACK_ONLY, **sections})


def nic(name: str, **extra: Any) -> dict[str, Any]:
    return {"key": "interface_name", "interface_name": name, "alias": None, **extra}


def disk_entry(name: str) -> dict[str, Any]:
    return {"key": "disk_name", "disk_name": name, "read_bytes": 1}


def mount(point: str, device: str = "/dev/sda1") -> dict[str, Any]:
    return {"key": "mnt_point", "mnt_point": point, "device_name": device, "fs_type": "ext4"}


def sensor(label: str, kind: str = "temperature_core") -> dict[str, Any]:
    return {"key": "label", "label": label, "unit": "C", "value": 40, "type": kind}


def names(entries: list[dict[str, Any]], key: str) -> list[Any]:
    return [e[key] for e in entries]


# --- alias ------------------------------------------------------------------------------


def test_network_entries_carry_their_alias() -> None:
    apply = item_rules("network", config(network={"alias": "eth0:WAN,WLAN0:Wireless"}))
    assert apply is not None
    out = apply([nic("eth0"), nic("wlan0"), nic("lo")])
    # names match exactly, else ignoring case (the reference lower-cases both sides)
    assert [(e["interface_name"], e["alias"]) for e in out] == [
        ("eth0", "WAN"),
        ("wlan0", "Wireless"),
        ("lo", None),  # the sampler's null stays where no alias is set
    ]


def test_diskio_and_fs_carry_an_alias_only_when_one_is_set() -> None:
    cfg = config(diskio={"alias": {"sda": "System"}}, fs={"alias": {"/": "Root"}})
    diskio, fs = item_rules("diskio", cfg), item_rules("fs", cfg)
    assert diskio is not None and fs is not None
    sda, sdb = diskio([disk_entry("sda"), disk_entry("sdb")])
    assert sda["alias"] == "System"
    assert "alias" not in sdb  # as the spec's example and the reference: absent when unset
    root, boot = fs([mount("/"), mount("/boot")])
    assert (root["alias"], "alias" in boot) == ("Root", False)


def test_an_alias_never_changes_the_sampled_entry_in_place() -> None:
    apply = item_rules("network", config(network={"alias": "eth0:WAN"}))
    assert apply is not None
    entry = nic("eth0")
    (out,) = apply([entry])
    assert out["alias"] == "WAN" and entry["alias"] is None


def test_without_alias_hide_or_show_entries_go_through_untouched() -> None:
    cfg = config()
    assert all(item_rules(p, cfg) is None for p in ("network", "diskio", "fs", "sensors"))


def test_a_sensor_alias_replaces_its_label_by_label_or_label_and_type() -> None:
    cfg = config(
        sensors={"alias": {"core 0": "CPU die", "Ambient_temperature_core": "Room", "fan1": "Rear"}}
    )
    apply = item_rules("sensors", cfg)
    assert apply is not None
    out = apply([sensor("Core 0"), sensor("Ambient"), sensor("fan1", "fan_speed"), sensor("x")])
    assert names(out, "label") == ["CPU die", "Room", "Rear", "x"]
    assert "alias" not in out[0]  # the label itself carries it, as in the reference


def test_sensor_labels_stay_unique_when_an_alias_repeats_one() -> None:
    apply = item_rules("sensors", config(sensors={"alias": {"Core 0": "CPU", "Core 1": "CPU"}}))
    assert apply is not None
    assert names(apply([sensor("Core 0"), sensor("Core 1")]), "label") == ["CPU", "CPU 1"]


# --- hide / show ------------------------------------------------------------------------


def test_hide_matches_the_name_or_its_alias_whole_and_ignoring_case() -> None:
    cfg = config(network={"hide": ["wan", "docker.*", "eth"], "alias": "eth1:WAN"})
    apply = item_rules("network", cfg)
    assert apply is not None
    out = apply([nic("eth0"), nic("eth1"), nic("Docker0"), nic("lo")])
    assert names(out, "interface_name") == ["eth0", "lo"]  # "eth" is no full match


def test_show_wins_over_hide_and_matches_aliases_too() -> None:
    cfg = config(diskio={"hide": [".*"], "show": ["system", "sdb"], "alias": {"sda": "System"}})
    apply = item_rules("diskio", cfg)
    assert apply is not None
    out = apply([disk_entry("sda"), disk_entry("sdb"), disk_entry("loop0")])
    assert [(e["disk_name"], e.get("alias")) for e in out] == [("sda", "System"), ("sdb", None)]


def test_sensors_are_hidden_by_their_sampled_label_before_the_alias_replaces_it() -> None:
    cfg = config(sensors={"hide": ["core 0", "room"], "alias": {"Core 1": "CPU", "amb": "Room"}})
    apply = item_rules("sensors", cfg)
    assert apply is not None
    out = apply([sensor("Core 0"), sensor("Core 1"), sensor("amb"), sensor("acpitz 0")])
    assert names(out, "label") == ["CPU", "acpitz 0"]


def test_fs_is_hidden_by_its_mount_point_or_its_device() -> None:
    shown = display_filter("fs", config(fs={"hide": ["/boot.*", "/dev/loop.*"]}))
    assert shown is not None
    assert shown(mount("/", "/dev/vda1"))
    assert not shown(mount("/boot/efi", "/dev/vda15"))
    assert not shown(mount("/snap/core/1", "/dev/loop3"))
    show = display_filter("fs", config(fs={"show": ["/dev/vda1"]}))
    assert show is not None
    assert show(mount("/", "/dev/vda1")) and not show(mount("/data", "/dev/vdb"))


def test_dict_plugins_take_no_display_filter() -> None:
    assert display_filter("mem", config()) is None


# --- network hide_no_up / hide_no_ip ----------------------------------------------------

#: a /proc/net/dev in the real format: lo, eth0, ifb0 and wlan0
NET_DEV = Path(__file__).parent / "fixtures" / "options" / "net_dev"


def addr(family: int) -> Any:
    return SimpleNamespace(family=family, address="x", netmask=None)


@pytest.fixture
def fake_nics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lo, eth0 up with addresses; ifb0 down with none; wlan0 up with only a MAC."""
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "dev").write_bytes(NET_DEV.read_bytes())
    monkeypatch.setattr(procfs, "PROC", str(tmp_path))
    running = procfs.IFF_RUNNING | 0x1
    stats = {"lo": running, "eth0": running, "ifb0": 0, "wlan0": running}
    monkeypatch.setattr(
        procfs,
        "nic_stats",
        lambda names, with_speed=True: {n: procfs.NicStat(stats[n], 0) for n in names},
    )
    addrs = {
        "lo": [addr(socket.AF_INET), addr(psutil.AF_LINK)],
        "eth0": [addr(socket.AF_INET6), addr(psutil.AF_LINK)],
        "ifb0": [addr(psutil.AF_LINK)],
        "wlan0": [addr(psutil.AF_LINK)],
    }
    monkeypatch.setattr(psutil, "net_if_addrs", lambda: addrs)


def network_names(ctx: SampleContext) -> list[str]:
    _, state = network.sample_network(None, ctx)
    data, _ = network.sample_network(state, ctx)
    return names(data["network"], "interface_name")


@pytest.mark.usefixtures("fake_nics")
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"hide_no_up": True, "hide_no_ip": False}, ["lo", "eth0", "wlan0"]),
        ({"hide_no_ip": True, "hide_no_up": False}, ["lo", "eth0"]),  # a MAC is no address
        ({"hide_no_up": True, "hide_no_ip": True}, ["lo", "eth0"]),
    ],
)
def test_network_hides_interfaces_down_or_without_address(
    options: dict[str, Any], expected: list[str]
) -> None:
    assert network_names(context(["network"], config=config(network=options))) == expected


@pytest.mark.usefixtures("fake_nics")
def test_hidden_interfaces_keep_their_counters_for_when_they_come_back() -> None:
    shown = config(network={"hide_no_up": False, "hide_no_ip": False})
    assert network_names(context(["network"], config=shown)) == ["lo", "eth0", "ifb0", "wlan0"]
    ctx = context(["network"], config=config(network={"hide_no_up": True}))
    _, state = network.sample_network(None, ctx)
    data, state = network.sample_network(state, ctx)
    assert "ifb0" not in names(data["network"], "interface_name")
    assert "ifb0" in state.counters


@pytest.mark.usefixtures("fake_nics")
def test_unreadable_addresses_hide_nothing_for_hide_no_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> Any:
        raise OSError("EMFILE")

    monkeypatch.setattr(psutil, "net_if_addrs", fail)
    ctx = context(["network"], config=config(network={"hide_no_ip": True, "hide_no_up": True}))
    assert network_names(ctx) == ["lo", "eth0", "wlan0"]  # hide_no_up still applies


def test_network_options_live() -> None:
    """On this machine: what psutil says is down, or has no address, is left out."""
    stats, addrs = psutil.net_if_stats(), psutil.net_if_addrs()
    ctx = context(["network"], config=config(network={"hide_no_up": True, "hide_no_ip": True}))
    _, _, data, _ = two_rounds(network.sample_network, ctx, pause=0.05)
    shown = set(names(data["network"], "interface_name"))
    assert "lo" in shown
    for name in shown:
        assert stats[name].isup
        assert any(a.family != psutil.AF_LINK for a in addrs.get(name, []))
    hidden = {n for n, s in stats.items() if not s.isup}
    hidden |= {n for n, a in addrs.items() if all(x.family == psutil.AF_LINK for x in a)}
    assert not shown & hidden
    _, _, plain, _ = two_rounds(network.sample_network, context(["network"]), pause=0.05)
    listed = set(names(plain["network"], "interface_name"))
    assert shown <= listed
    assert listed - shown <= hidden | (listed - set(stats))  # only those hidden are gone


# --- fs allow -----------------------------------------------------------------------------

FILESYSTEMS = b"nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\nnodev\tfuse\n\tfuseblk\n"


@pytest.fixture
def mount_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/ (ext4), a tmpfs, a "none" tmpfs, a fuse.sshfs, a proc and a tmpfs mounted over
    the ext4's own mount point, in a mount table under ``tmp_path``."""
    root = tmp_path / "proc"
    (root / "self").mkdir(parents=True)
    (root / "filesystems").write_bytes(FILESYSTEMS)
    points = {p: tmp_path / p for p in ("shm", "none", "remote", "data")}
    for path in points.values():
        path.mkdir()
    table = [
        "/dev/vda / ext4 rw,relatime 0 0",
        f"/dev/vdb {points['data']} ext4 rw 0 0",
        f"tmpfs {points['shm']} tmpfs rw,nosuid 0 0",
        f"none {points['none']} tmpfs rw 0 0",
        f"me@host: {points['remote']} fuse.sshfs rw 0 0",
        "proc /proc proc rw 0 0",
        f"tmpfs {points['data']} tmpfs rw 0 0",
    ]
    (root / "self" / "mounts").write_text("\n".join(table) + "\n")
    monkeypatch.setattr(procfs, "PROC", str(root))
    return tmp_path


def fs_points(ctx: SampleContext, base: Path) -> list[str]:
    data, _ = disk.sample_fs(None, ctx)
    return [e["mnt_point"].replace(str(base), "~") for e in data["fs"]]


@pytest.mark.parametrize(
    ("allow", "expected"),
    [
        (("tmpfs",), ["/", "~/data", "~/shm", "~/none"]),  # ~/data: the physical one
        (("fuse",), ["/", "~/data", "~/remote"]),  # a part of the type: fuse.sshfs
        (("tmpfs", "proc"), ["/", "~/data", "~/shm", "~/none", "/proc"]),
    ],
)
def test_fs_allow_adds_mounts_of_the_types_it_names(
    mount_table: Path, allow: tuple[str, ...], expected: list[str]
) -> None:
    ctx = context(["fs"], config=config(fs={"allow": list(allow)}))
    assert fs_points(ctx, mount_table) == expected


def test_fs_allowed_entries_have_the_fs_shape(mount_table: Path) -> None:
    assert fs_points(context(["fs"]), mount_table) == ["/", "~/data"]  # physical only
    data, _ = disk.sample_fs(None, context(["fs"], config=config(fs={"allow": ["tmpfs"]})))
    none = next(e for e in data["fs"] if e["mnt_point"].endswith("/none"))
    assert (none["device_name"], none["fs_type"], none["options"]) == ("", "tmpfs", "rw")
    assert none["size"] >= none["used"] >= 0


def test_a_hidden_mount_is_not_even_measured(
    mount_table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    measured: list[str] = []
    real = procfs.disk_usage

    def usage(path: str) -> Any:
        measured.append(path)
        return real(path)

    monkeypatch.setattr(procfs, "disk_usage", usage)
    hide = [re.escape(f"{mount_table}/remote"), "/dev/vdb"]
    ctx = context(["fs"], config=config(fs={"allow": ["fuse", "tmpfs"], "hide": hide}))
    assert fs_points(ctx, mount_table) == ["/", "~/shm", "~/none"]
    assert f"{mount_table}/remote" not in measured


def test_fs_allow_live() -> None:
    """Every tmpfs mount psutil lists (all=True) joins the physical ones."""
    ctx = context(["fs"], config=config(fs={"allow": ["tmpfs"]}))
    data, _ = disk.sample_fs(None, ctx)
    got = {e["mnt_point"] for e in data["fs"]}
    physical = {p.mountpoint for p in psutil.disk_partitions(all=False)}
    tmpfs = {p.mountpoint for p in psutil.disk_partitions(all=True) if "tmpfs" in p.fstype}
    readable = {p for p in tmpfs | physical if os.access(p, os.R_OK)}
    assert readable <= got <= tmpfs | physical
    plain, _ = disk.sample_fs(None, context(["fs"]))
    assert {e["mnt_point"] for e in plain["fs"]} <= physical


# --- sensors: the alias on sampled entries ------------------------------------------------


def test_sensor_aliases_apply_to_what_the_sampler_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    shwtemp = SimpleNamespace
    temps = {
        "coretemp": [shwtemp(label="Package id 0", current=50, high=80, critical=100)],
        "nvme": [shwtemp(label="Composite", current=40, high=None, critical=None)],
    }
    monkeypatch.setattr(sensors, "present", lambda name: name == "sensors_temperatures")
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: temps)
    data, _ = sensors.sample_sensors(None, context(["sensors"]))
    cfg = config(sensors={"alias": {"package id 0": "CPU", "Composite_temperature_hdd": "SSD"}})
    apply = item_rules("sensors", cfg)
    assert apply is not None
    out = apply(data["sensors"])
    assert [(e["label"], e["type"]) for e in out] == [
        ("CPU", "temperature_core"),
        ("SSD", "temperature_hdd"),
    ]


# --- processlist sort_key -----------------------------------------------------------------


def proc(pid: int, name: str, user: str | None, cpu: float, mem: float, **extra: Any) -> Any:
    return {
        "pid": pid,
        "name": name,
        "username": user,
        "cpu_percent": cpu,
        "memory_percent": mem,
        "io_counters": extra.get("io", [0, 0, 0, 0, 0]),
        "cpu_times": extra.get("times", {"user": 0.0, "system": 0.0}),
    }


CRAFTED = [
    proc(1, "init", "root", 0.5, 1.0, io=[100, 100, 100, 100, 1], times={"user": 9, "system": 9}),
    proc(2, "bash", "zoe", 2.0, 0.5, io=[500, 0, 0, 0, 1], times={"user": 1, "system": 0}),
    proc(3, "Xorg", None, 2.0, 3.0, io=[0, 0, 0, 0, 0], times={"user": 5, "system": 1}),
    proc(4, "bash", "amy", 0.0, 0.2, io=[400, 300, 0, 0, 1], times={"user": 0, "system": 0}),
]


@pytest.mark.parametrize(
    ("key", "pids"),
    [
        ("auto", [3, 2, 1, 4]),  # CPU, then memory, descending
        ("cpu_percent", [3, 2, 1, 4]),
        ("memory_percent", [3, 1, 2, 4]),
        ("name", [3, 4, 2, 1]),  # ascending ("X" < "b"), ties on memory ascending
        ("username", [4, 1, 2, 3]),  # ascending; a denied (None) user last
        ("io_counters", [4, 2, 1, 3]),  # bytes over the interval: 700, 500, 0, 0
        ("cpu_times", [1, 3, 2, 4]),  # user + system: 18, 6, 1, 0
    ],
)
def test_sort_keys(key: str, pids: list[int]) -> None:
    entries = [dict(e) for e in CRAFTED]
    processes.sort_entries(entries, key)
    assert names(entries, "pid") == pids


FIXTURES = Path(__file__).parent / "fixtures" / "proc"


def test_processlist_and_programlist_sorted_by_name_from_proc_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(processes, "PROC_ROOT", str(FIXTURES))
    ctx = context(
        ["processcount", "processlist", "programlist"],
        config=config(processlist={"sort_key": "name"}),
    )
    _, state = processes.sample_processes(None, ctx)
    data, _ = processes.sample_processes(state, ctx)
    listed = names(data["processlist"], "name")
    assert listed == sorted(listed) and len(listed) == 4
    programs = names(data["programlist"], "name")
    assert programs == sorted(programs)


def test_sort_key_live() -> None:
    ctx = context(
        ["processcount", "processlist", "programlist"],
        config=config(processlist={"sort_key": "memory_percent"}),
    )
    _, _, data, _ = two_rounds(processes.sample_processes, ctx, pause=0.05)
    for plugin in ("processlist", "programlist"):
        mem = names(data[plugin], "memory_percent")
        assert len(mem) > 1
        assert mem == sorted(mem, reverse=True), plugin
