"""The direct /proc and /sys readers against psutil, which they must agree with exactly.

Two kinds of check:

* **fixtures**: text in the real /proc format (taken from a Linux 6.x machine, plus the
  variants psutil handles: a container's MemAvailable, swap in use, the old diskstats
  layouts, escaped mount points) is written to a directory that both
  ``procfs.PROC`` and ``psutil.PROCFS_PATH`` point at, so psutil parses the very same
  bytes: any formula that differs from psutil's fails here;
* **live**: on this machine, a direct reading is compared with psutil's, taken just
  before and after it (counters must fall between the two; gauges be equal or within
  the drift of two consecutive reads).
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from psutil._common import _WrapNumbers

from pipeline.config import from_mapping
from pipeline.samplers import disk, memory, network, procfs, system
from tests.pipeline.sampler_helpers import context

pytestmark = pytest.mark.skipif(not psutil.LINUX, reason="Linux /proc readers")

STAT = """\
cpu  26689 0 7070 112828 492 0 936 14 0 0
cpu0 11746 0 3295 58365 42 0 487 4 0 0
cpu1 14942 0 3774 54462 449 0 449 10 0 0
cpu2 1234567 89 4242 999999 7 3 11 0 55 66
intr 1231049 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 14 0 0 0 0 149 42 0 24
ctxt 4853024
btime 1795802953
processes 12891
procs_running 2
procs_blocked 0
softirq 1803591 0 66307 4 1486986 67917 0 2 87237 10226 84912
"""

MEMINFO = """\
MemTotal:       24684084 kB
MemFree:        23648388 kB
MemAvailable:   23859848 kB
Buffers:            7700 kB
Cached:           427952 kB
SwapCached:            0 kB
Active:           239640 kB
Inactive:         529900 kB
Active(anon):      27164 kB
Inactive(anon):   376256 kB
Active(file):     212476 kB
Inactive(file):   153644 kB
Unevictable:       14392 kB
Mlocked:           13400 kB
SwapTotal:       2097148 kB
SwapFree:        1048001 kB
Zswap:                 0 kB
Zswapped:              0 kB
Dirty:              4960 kB
Writeback:             0 kB
AnonPages:        348424 kB
Mapped:           128460 kB
Shmem:             69524 kB
KReclaimable:     110140 kB
Slab:             139492 kB
SReclaimable:     110140 kB
SUnreclaim:        29352 kB
KernelStack:        2596 kB
PageTables:         5268 kB
CommitLimit:    12342040 kB
Committed_AS:    1225284 kB
VmallocTotal:   34359738367 kB
HugePages_Total:       0
HugePages_Free:        0
Hugepagesize:       2048 kB
DirectMap4k:       28672 kB
DirectMap2M:     2068480 kB
"""

#: the variants psutil's virtual_memory()/swap_memory() treat specially
MEMINFO_VARIANTS = {
    "real": MEMINFO,
    # a container: MemAvailable above MemTotal, so psutil takes MemFree
    "container": MEMINFO.replace("MemAvailable:   23859848", "MemAvailable:   99999999"),
    # no SReclaimable (before 2.6.19): cached is Cached alone; no Slab: 0
    "no-sreclaimable": MEMINFO.replace("SReclaimable:     110140 kB\n", "").replace(
        "Slab:             139492 kB\n", ""
    ),
    "no-swap": MEMINFO.replace("SwapTotal:       2097148", "SwapTotal:             0").replace(
        "SwapFree:        1048001", "SwapFree:              0"
    ),
    "no-memtotal-line-first": "Foo:  1 kB\n" + MEMINFO,
}

VMSTAT = """\
nr_free_pages 5912097
nr_zone_inactive_anon 94064
nr_dirtied 283049
pgpgin 1184501
pgpgout 1124328
pswpin 1234
pswpout 56789
pgalloc_dma 0
pgfault 7420863
"""

NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 27945454806 1646419    0    0    0     0          0         0 27945454806 1646419    0    0    0     0       0          0
  ifb0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 94506304    2725    0    0    0     0          0         0   187257    1441    0    0    0     0       0          0
wlp2s0:18446744073709551615 12 1 2 0 0 0 3 1099511627776 4 0 0 0 0 0 0
"""  # noqa: E501

DISKSTATS = """\
   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 44298 8508 2369002 11877 30027 22274 2247960 12102 0 7868 25587 11051 104 834064 1148 5971 459
 254       1 vda1 44000 8000 2300000 11000 30000 22000 2200000 12000 0 7000 25000 11000 100 830000 1100
   8       0 sda 1000 20 30000 400 500 60 70000 800 0 900 1000
   8       1 sda1 111 2222 333 4444
   3       0   0 hda 5 6 7 8 9 10 11 12 13 14 15
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
"""  # noqa: E501

FILESYSTEMS = """\
nodev\tsysfs
nodev\ttmpfs
nodev\tproc
nodev\tdevtmpfs
\text3
\text2
\text4
\tsquashfs
nodev\tautofs
\tfuseblk
nodev\tfuse
nodev\toverlay
\txfs
\tvfat
nodev\tzfs
nodev\tmqueue
\tbtrfs
"""

MOUNTS = """\
proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=12334460k,nr_inodes=3083615,mode=755 0 0
/dev/vda / ext4 rw,relatime,discard,resv_strict,resuid=65534,resgid=65534 0 0
/dev/vdb1 /media/my\\040disk vfat rw,fmask=0022 0 0
/dev/vdb2 /mnt/tab\\011and\\134back\\\\slash ext4 ro 0 0
none /mnt/none ext4 rw 0 0
tank/data /tank/data zfs rw,xattr,noacl 0 0
/dev/vdc /srv/overlay overlay rw 0 0
/dev/vdd /srv/fuse fuseblk rw,user_id=0 0 0
"""

CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
cpu MHz\t\t: 2600.000
cache size\t: 16384 KB

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
cpu MHz\t\t: 1799.123
cache size\t: 16384 KB

"""


@pytest.fixture(autouse=True)
def _fresh_share() -> Iterator[None]:
    procfs._shared.clear()  # a reading shared by a previous test must not leak in
    yield
    procfs._shared.clear()


@pytest.fixture
def fake_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A /proc with the fixture files, for procfs and psutil both."""
    files = {
        "stat": STAT,
        "meminfo": MEMINFO,
        "vmstat": VMSTAT,
        "net/dev": NET_DEV,
        "diskstats": DISKSTATS,
        "filesystems": FILESYSTEMS,
        "self/mounts": MOUNTS,
        "cpuinfo": CPUINFO,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(procfs, "PROC", str(tmp_path))
    monkeypatch.setattr(psutil, "PROCFS_PATH", str(tmp_path))
    return tmp_path


# --- fixtures: the same bytes through psutil and procfs --------------------------------


def test_stat_as_psutil_parses_it(fake_proc: Path) -> None:
    stat = procfs.parse_stat(procfs.proc("stat"))
    assert stat.times == psutil.cpu_times()
    assert stat.times._fields == psutil.cpu_times()._fields
    assert list(stat.percpu) == psutil.cpu_times(percpu=True)
    stats = psutil.cpu_stats()
    assert (stat.ctx_switches, stat.interrupts, stat.soft_interrupts) == (
        stats.ctx_switches,
        stats.interrupts,
        stats.soft_interrupts,
    )
    assert stat.btime == psutil.boot_time() == procfs.boot_time()
    assert procfs.proc_stat()[1] == stat


@pytest.mark.parametrize("variant", sorted(MEMINFO_VARIANTS))
def test_meminfo_as_psutil_computes_it(fake_proc: Path, variant: str) -> None:
    (fake_proc / "meminfo").write_text(MEMINFO_VARIANTS[variant])
    info = procfs.parse_meminfo(procfs.proc("meminfo"))
    assert info.vm is not None
    assert tuple(info.vm) == tuple(psutil.virtual_memory())
    assert info.vm._fields == psutil.virtual_memory()._fields
    swap = psutil.swap_memory()
    assert tuple(info.swap or ()) == (swap.total, swap.used, swap.free, swap.percent)
    assert procfs.parse_swap_io(procfs.proc("vmstat")) == (swap.sin, swap.sout)
    # and the memory family publishes what psutil's figures give
    data, _ = memory.sample_memory(memory.MemoryState(time.monotonic() - 1), context())
    vm = psutil.virtual_memory()
    for name in memory.MEM_FIELDS:
        assert data["mem"][name] == getattr(vm, name), name
    assert data["mem"]["used"] == vm.total - vm.available
    assert {k: v for k, v in data["memswap"].items() if k != "time_since_update"} == dict(
        swap._asdict()
    )


def test_where_psutil_takes_a_path_of_its_own_psutil_is_asked(fake_proc: Path) -> None:
    # no MemAvailable (before 3.14): psutil estimates it from /proc/zoneinfo
    (fake_proc / "meminfo").write_text(MEMINFO.replace("MemAvailable:   23859848 kB\n", ""))
    (fake_proc / "zoneinfo").write_text("Node 0, zone   Normal\n  pages free 1000\n low 3000\n")
    info = procfs.parse_meminfo(procfs.proc("meminfo"))
    assert info.vm is None
    assert procfs.virtual_memory(info) == psutil.virtual_memory()
    # a MemAvailable of 0 (a kernel bug psutil works around) and no Shmem likewise
    for text in (
        MEMINFO.replace("MemAvailable:   23859848", "MemAvailable:          0"),
        MEMINFO.replace("Shmem:             69524 kB\n", "MemShared:  5 kB\n"),
    ):
        (fake_proc / "meminfo").write_text(text)
        info = procfs.parse_meminfo(procfs.proc("meminfo"))
        assert info.vm is None
        assert procfs.virtual_memory(info) == psutil.virtual_memory()
    # no swap lines (psutil asks sysinfo(2)); no pswpin (psutil warns and says 0)
    (fake_proc / "meminfo").write_text(MEMINFO.replace("SwapTotal:       2097148 kB\n", ""))
    assert procfs.parse_meminfo(procfs.proc("meminfo")).swap is None
    assert procfs.parse_swap_io(b"pgpgin 1\npswpout 2\n") is None
    (fake_proc / "meminfo").write_text(MEMINFO)
    (fake_proc / "vmstat").write_text("pgpgin 1\n")
    with pytest.warns(RuntimeWarning):
        expected = psutil.swap_memory()
    with pytest.warns(RuntimeWarning):
        assert memory.swap_memory(procfs.parse_meminfo(procfs.proc("meminfo"))) == expected


def test_net_dev_as_psutil_parses_it(fake_proc: Path) -> None:
    parsed = procfs.parse_net_dev(procfs.proc("net/dev"))
    expected = psutil.net_io_counters(pernic=True, nowrap=False)
    assert list(parsed) == list(expected)  # same order: ip prefers the first one up
    assert parsed == {n: (c.bytes_sent, c.bytes_recv) for n, c in expected.items()}
    with pytest.raises(ValueError):
        procfs.parse_net_dev(b"h1\nh2\n  eth0: 1 2 3\n")


def test_diskstats_as_psutil_parses_it(fake_proc: Path) -> None:
    parsed = procfs.parse_diskstats(procfs.proc("diskstats"))
    expected = psutil.disk_io_counters(perdisk=True, nowrap=False)
    assert parsed == {
        n: tuple(getattr(c, f) for f in disk.DISKIO_COUNTERS) for n, c in expected.items()
    }
    assert parsed is not None and {"vda", "vda1", "sda", "sda1", "hda"} <= set(parsed)
    # a line psutil cannot read either: psutil is asked (and raises as before)
    (fake_proc / "diskstats").write_text(DISKSTATS + "   8  2 sdb2 1 2 3\n")
    assert procfs.parse_diskstats(procfs.proc("diskstats")) is None
    with pytest.raises(ValueError):
        disk.sample_diskio(None, context(["diskio"]))


def test_partitions_as_psutil_lists_them(fake_proc: Path) -> None:
    parts = procfs.disk_partitions()
    assert parts == [tuple(p) for p in psutil.disk_partitions(all=False)]
    mounts = [p.mountpoint for p in parts]
    assert mounts == [
        "/",
        "/media/my disk",
        "/mnt/tab\tand\\back\\slash",
        "/tank/data",
        "/srv/fuse",
    ]


def test_cpu_freq_from_cpuinfo_as_psutil(fake_proc: Path) -> None:
    assert procfs.cpuinfo_mhz(procfs.proc("cpuinfo")) == [2600.0, 1799.123]
    result = procfs.cpu_freq(procfs.proc("cpuinfo"), has_cpufreq=False)
    assert result == ((2600.0 + 1799.123) / 2, 0.0)
    one = CPUINFO.split("\n\n")[0] + "\n\n"
    assert procfs.cpu_freq(one.encode(), has_cpufreq=False) == (2600.0, 0.0)
    assert procfs.cpu_freq(b"processor : 0\n", has_cpufreq=False) is None
    if not procfs.HAS_CPUFREQ:  # psutil's build here reads cpuinfo under PROCFS_PATH
        freq = psutil.cpu_freq()
        assert result == (freq.current, freq.max)


def _policy(root: Path, name: str, **files: str) -> None:
    (root / "cpufreq" / name).mkdir(parents=True)
    for key, value in files.items():
        (root / "cpufreq" / name / key).write_text(value + "\n")


def test_cpu_freq_from_sysfs_as_psutil_computes_it(tmp_path: Path) -> None:
    """psutil's sysfs branch, on a fake /sys/devices/system/cpu (psutil's own paths are
    fixed, so the expected figures are worked out from its code by hand)."""
    for n, cur in ((0, "2400000"), (1, "1200000"), (10, "800000")):
        _policy(tmp_path, f"policy{n}", scaling_cur_freq=cur, scaling_max_freq="3600000",
                scaling_min_freq="800000")  # fmt: skip
    (tmp_path / "cpufreq" / "ondemand").mkdir()  # not a policy
    sys_cpu = str(tmp_path)
    # cpuinfo lists 2 CPUs for 3 policies: the scaling_cur_freq files are read
    result = procfs.cpu_freq(CPUINFO.encode(), sys_cpu, True)
    assert result == ((2400.0 + 1200.0 + 800.0) / 3, 3600.0)
    # as many cpuinfo lines as policies: cpuinfo's figures, truncated to kHz, in order
    three = CPUINFO + CPUINFO.split("\n\n")[1].replace("1799.123", "1000.0009") + "\n\n"
    result = procfs.cpu_freq(three.encode(), sys_cpu, True)
    assert result == ((2600.0 + 1799.123 + int(1000.0009 * 1000) / 1000) / 3, 3600.0)
    # a policy without a current frequency: cpuinfo_cur_freq, else 0 when offline
    (tmp_path / "cpufreq" / "policy10" / "scaling_cur_freq").unlink()
    (tmp_path / "cpufreq" / "policy10" / "cpuinfo_cur_freq").write_text("900000\n")
    assert procfs.cpu_freq(b"", sys_cpu, True) == ((2400.0 + 1200.0 + 900.0) / 3, 3600.0)
    (tmp_path / "cpufreq" / "policy10" / "cpuinfo_cur_freq").unlink()
    with pytest.raises(NotImplementedError):
        procfs.cpu_freq(b"", sys_cpu, True)
    (tmp_path / "cpu2").mkdir()
    (tmp_path / "cpu2" / "online").write_text("0\n")
    assert procfs.cpu_freq(b"", sys_cpu, True) == ((2400.0 + 1200.0) / 3, 7200.0 / 3)


def test_unwrap_is_psutils_nowrap() -> None:
    """Random counter sequences (wraps, resets, disks that come and go) through psutil's
    own ``_WrapNumbers`` and through :func:`procfs.unwrap`: identical every time."""
    rng = random.Random(7)
    wraps = 0
    for _ in range(50):
        wrapper = _WrapNumbers()
        state: procfs.Unwrapped | None = None
        counters = {f"d{i}": [rng.randint(0, 1000) for _ in range(3)] for i in range(4)}
        for _ in range(40):
            raw = {}
            for key, values in counters.items():
                for i in range(len(values)):
                    roll = rng.random()
                    values[i] = rng.randint(0, 50) if roll < 0.1 else values[i] + rng.randint(0, 99)
                if rng.random() < 0.9:  # sometimes a disk is missing this round
                    raw[key] = tuple(values)
            expected = wrapper.run(dict(raw), "x")
            state = procfs.unwrap(raw, state)
            assert state.values == expected
            # psutil's defaultdict also holds the zeros it looked up
            assert dict(state.reminders) == {k: v for k, v in wrapper.reminders["x"].items() if v}
            wraps += bool(state.reminders)
    assert wraps > 100  # the sequences did wrap


# --- live: this machine, psutil read just before and after -----------------------------


def _between(before: Any, value: Any, after: Any) -> None:
    assert before <= value <= after, (before, value, after)


def test_live_stat_agrees_with_psutil() -> None:
    times0, percpu0, stats0 = psutil.cpu_times(), psutil.cpu_times(percpu=True), psutil.cpu_stats()
    stat = procfs.parse_stat(procfs.proc("stat"))
    times1, percpu1, stats1 = psutil.cpu_times(), psutil.cpu_times(percpu=True), psutil.cpu_stats()
    assert stat.times._fields == times0._fields
    for b, v, a in zip(times0, stat.times, times1, strict=True):
        _between(b, v, a)
    assert len(stat.percpu) == len(percpu0) == len(percpu1)
    for cb, cv, ca in zip(percpu0, stat.percpu, percpu1, strict=True):
        for b, v, a in zip(cb, cv, ca, strict=True):
            _between(b, v, a)
    _between(stats0.ctx_switches, stat.ctx_switches, stats1.ctx_switches)
    _between(stats0.interrupts, stat.interrupts, stats1.interrupts)
    _between(stats0.soft_interrupts, stat.soft_interrupts, stats1.soft_interrupts)
    assert stat.btime == psutil.boot_time() == procfs.boot_time()
    assert procfs.cpu_count() == psutil.cpu_count()


def test_live_meminfo_agrees_with_psutil() -> None:
    for _ in range(20):  # gauges move: find two equal psutil readings around ours
        vm0, sw0 = psutil.virtual_memory(), psutil.swap_memory()
        info = procfs.parse_meminfo(procfs.proc("meminfo"))
        swap_io = procfs.parse_swap_io(procfs.proc("vmstat"))
        vm1, sw1 = psutil.virtual_memory(), psutil.swap_memory()
        if vm0 == vm1 and sw0 == sw1:
            break
    else:
        pytest.skip("memory figures kept moving")
    assert procfs.virtual_memory(info) == vm0
    assert info.swap is not None and tuple(info.swap) == tuple(sw0)[:4]
    assert swap_io == (sw0.sin, sw0.sout)


def test_live_network_agrees_with_psutil() -> None:
    before = psutil.net_io_counters(pernic=True, nowrap=False)
    parsed = procfs.parse_net_dev(procfs.proc("net/dev"))
    after = psutil.net_io_counters(pernic=True, nowrap=False)
    assert list(parsed) == list(before)
    for name, (sent, recv) in parsed.items():
        _between(before[name].bytes_sent, sent, after[name].bytes_sent)
        _between(before[name].bytes_recv, recv, after[name].bytes_recv)
    stats = procfs.nic_stats(parsed)
    expected = psutil.net_if_stats()
    assert list(stats) == list(expected)
    for name, nic in stats.items():
        assert bool(nic.flags & procfs.IFF_RUNNING) is expected[name].isup, name
        flags = expected[name].flags.split(",")
        assert bool(nic.flags & procfs.IFF_LOOPBACK) is ("loopback" in flags), name
        assert nic.speed == expected[name].speed, name
    assert procfs.nic_stats(parsed, with_speed=False) == {
        n: s._replace(speed=0) for n, s in stats.items()
    }
    assert procfs.nic_stats(["statbus-nonexistent0"]) == {}  # ENODEV: left out


def test_a_nic_ioctl_error_other_than_enodev_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: Any) -> Any:
        raise OSError(errno.EPERM, "denied")

    monkeypatch.setattr(fcntl, "ioctl", denied)
    with pytest.raises(PermissionError):
        procfs.nic_stats(["lo"])


def test_live_diskstats_agree_with_psutil() -> None:
    before = psutil.disk_io_counters(perdisk=True, nowrap=False)
    parsed = procfs.parse_diskstats(procfs.proc("diskstats"))
    after = psutil.disk_io_counters(perdisk=True, nowrap=False)
    assert parsed is not None and list(parsed) == list(before)
    for name, values in parsed.items():
        for field, value in zip(disk.DISKIO_COUNTERS, values, strict=True):
            _between(getattr(before[name], field), value, getattr(after[name], field))


def test_live_partitions_and_usage_agree_with_psutil() -> None:
    parts = procfs.disk_partitions()
    assert parts == [tuple(p) for p in psutil.disk_partitions(all=False)]
    for part in parts:
        for _ in range(20):
            u0 = psutil.disk_usage(part.mountpoint)
            mine = procfs.disk_usage(part.mountpoint)
            if u0 == psutil.disk_usage(part.mountpoint):
                assert tuple(mine) == tuple(u0)
                break


def test_live_cpu_freq_agrees_with_psutil() -> None:
    freq = psutil.cpu_freq()
    mine = procfs.cpu_freq(procfs.proc("cpuinfo"))
    if freq is None:
        assert mine is None
        return
    assert mine is not None
    assert mine[1] == freq.max
    assert mine[0] == pytest.approx(freq.current, rel=0.5)


def test_live_uptime_is_psutils() -> None:
    uptime = system.sample_clock(None, context(["uptime"]))[0]["uptime"]
    expected = system.uptime_text(time.time() - psutil.boot_time())
    assert uptime == expected or abs(int(uptime[-2:]) - int(expected[-2:])) in (1, 59)


# --- sharing a reading between the families of one call -------------------------------


def test_a_reading_is_shared_only_while_fresh_and_newer_than_the_callers_last() -> None:
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    t1, v1 = procfs.shared("k", load, None)
    assert procfs.shared("k", load, None) == (t1, v1)  # another family, same call
    assert procfs.shared("k", load, t1 - 1) == (t1, v1)
    # the caller's own last reading is never handed back: it would be a zero interval
    t2, v2 = procfs.shared("k", load, t1)
    assert (t2 > t1, v2) == (True, 2)
    # a reading older than the window is not shared
    procfs._shared["k"] = (time.monotonic() - procfs.SHARE_WINDOW - 0.01, 99)
    assert procfs.shared("k", load, None)[1] == 3
    assert len(loads) == 3


def test_cpu_quicklook_and_memory_share_their_readings() -> None:
    from pipeline.samplers import cpu

    ctx = context()
    _, cpu_state = cpu.sample_cpu(None, ctx)
    _, ql_state = cpu.sample_quicklook(None, ctx)
    assert ql_state.ts == cpu_state.ts and ql_state.times is cpu_state.times
    time.sleep(0.01)
    _, cpu2 = cpu.sample_cpu(cpu_state, ctx)
    data, ql2 = cpu.sample_quicklook(ql_state, ctx)
    assert ql2.ts == cpu2.ts > cpu_state.ts
    assert "quicklook" in data
    # a family called twice in a row reads again rather than reuse its own reading
    _, cpu3 = cpu.sample_cpu(cpu2, ctx)
    assert cpu3.ts > cpu2.ts
    _, mem_state = memory.sample_memory(None, ctx)
    assert mem_state.ts == procfs._shared["meminfo"][0]


def test_network_keeps_psutils_nowrap_in_its_state(
    fake_proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procfs, "nic_stats", lambda names, with_speed=True: {})
    # every fixture interface listed, though none is up here
    shown = from_mapping({"network": {"hide_no_up": False, "hide_no_ip": False}})
    ctx = context(["network"], config=shown)
    _, state = network.sample_network(None, ctx)
    # eth0's counters restart from a small value (a driver reset): nowrap adds the old
    (fake_proc / "net/dev").write_text(
        NET_DEV.replace("94506304    2725", "     100    2725").replace(
            "187257    1441", "    50    1441"
        )
    )
    data, state2 = network.sample_network(state, ctx)
    eth0 = next(e for e in data["network"] if e["interface_name"] == "eth0")
    assert eth0["bytes_recv_gauge"] == 94506304 + 100 and eth0["bytes_recv"] == 100
    assert eth0["bytes_sent_gauge"] == 187257 + 50 and eth0["bytes_sent"] == 50
    assert eth0["is_up"] is False and eth0["speed"] == 0
    assert state.counters["eth0"] == (187257, 94506304)  # the previous state is untouched
    assert state2.wrap is not None and state2.wrap.raw["eth0"] == (50, 100)


def test_diskio_uses_the_fixture_through_psutils_formulas(fake_proc: Path) -> None:
    _, state = disk.sample_diskio(None, context(["diskio"]))
    expected = psutil.disk_io_counters(perdisk=True, nowrap=False)
    assert dict(state.counters) == {
        n: tuple(getattr(c, f) for f in disk.DISKIO_COUNTERS)
        for n, c in expected.items()
        if not n.startswith("ram")
    }


def test_read_returns_whole_files_larger_than_one_read(tmp_path: Path) -> None:
    big = os.urandom(200_000)
    (tmp_path / "big").write_bytes(big)
    (tmp_path / "empty").write_bytes(b"")
    assert procfs.read(str(tmp_path / "big")) == big
    assert procfs.read(str(tmp_path / "empty")) == b""
    with pytest.raises(FileNotFoundError):
        procfs.read(str(tmp_path / "missing"))
