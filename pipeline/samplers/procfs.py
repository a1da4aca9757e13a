"""Direct readers of ``/proc`` and ``/sys`` for the sampler families, psutil's formulas.

psutil's functions are convenient but dear when called every second: each opens its file
through Python's buffered I/O, parses every line, builds named tuples, and several read
the same file (``cpu_times``, ``cpu_times(percpu=True)``, ``cpu_stats`` and
``boot_time`` all read ``/proc/stat``; ``virtual_memory`` and ``swap_memory`` both
``/proc/meminfo``; ``net_if_stats`` re-reads ``/proc/net/dev``).  The readers here take
each file with one ``os.open``/``os.read``/``os.close`` and parse only what the plugins
publish, **with psutil's formulas** (each function names the psutil 7.x function of
``psutil/_pslinux.py`` it mirrors), so every value is the one psutil would give.

Where a direct parse can legitimately fail (a field this kernel does not have, a format
psutil handles with a fallback of its own) the reader returns ``None`` and the caller
falls back to psutil.

:func:`shared` lets the families of one runner call (run back to back in one worker
thread) share a parsed reading: ``cpu`` and ``quicklook`` read ``/proc/stat`` once
between them, ``memory`` and ``quicklook`` ``/proc/meminfo`` once.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import operator
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import psutil

T = TypeVar("T")

#: what psutil divides /proc/stat's ticks by (``_pslinux.CLOCK_TICKS``)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: psutil's ``scputimes`` named tuple; its fields follow this kernel's /proc/stat
CpuTimes: Any = type(psutil.cpu_times())
_NFIELDS = len(CpuTimes._fields)
#: /proc/diskstats counts 512-byte sectors whatever the disk (``_pslinux.DISK_SECTOR_SIZE``)
DISK_SECTOR_SIZE = 512

# --- reading --------------------------------------------------------------------------

#: where procfs is mounted (psutil's ``PROCFS_PATH``; tests point both at fixtures)
PROC = "/proc"


def read(path: str | bytes) -> bytes:
    """The whole file, with the fewest system calls (a /proc file is generated on read)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 65536)
        if not data:
            return data
        chunks = [data]
        while chunk := os.read(fd, 65536):  # seq_file files come a page or so at a time
            chunks.append(chunk)
    finally:
        os.close(fd)
    return data if len(chunks) == 1 else b"".join(chunks)


def proc(name: str) -> bytes:
    """The whole of ``/proc/<name>``."""
    return read(f"{PROC}/{name}")


#: a reading this recent (seconds) is shared with the next family of the same call
SHARE_WINDOW = 0.05
_shared: dict[str, tuple[float, Any]] = {}
_shared_lock = threading.Lock()


def shared(key: str, load: Callable[[], T], newer_than: float | None) -> tuple[float, T]:
    """``(when, value)``: ``load()``'s value, or the one another family loaded moments ago.

    A cached value is reused only while younger than :data:`SHARE_WINDOW` **and** newer
    than ``newer_than`` (the caller's previous reading), so a family never sees the same
    reading twice (a zero interval) and its deltas span exactly ``when`` to ``when``.
    ``when`` is the ``time.monotonic()`` just before the file was read.
    """
    now = time.monotonic()
    hit = _shared.get(key)
    if (
        hit is not None
        and now - hit[0] < SHARE_WINDOW
        and (newer_than is None or hit[0] > newer_than)
    ):
        return hit
    entry = (now, load())
    with _shared_lock:  # families on threads of their own may race: newest wins
        current = _shared.get(key)
        if current is None or current[0] < now:
            _shared[key] = entry
    return entry


def _int_after(data: bytes, key: bytes) -> int | None:
    """The first number after ``key`` at the start of a line of ``data``, else ``None``."""
    start = data.find(b"\n" + key)
    if start < 0:
        if not data.startswith(key):
            return None
        start = -1
    start += len(key) + 1
    end = data.find(b"\n", start)
    words = data[start : end if end >= 0 else len(data)].split(None, 1)
    return int(words[0]) if words else None


# --- /proc/stat: cpu_times, per_cpu_times, cpu_stats, boot_time -----------------------


@dataclass(frozen=True, slots=True)
class ProcStat:
    times: Any  # CpuTimes
    percpu: tuple[Any, ...]  # CpuTimes per CPU
    ctx_switches: int | None
    interrupts: int | None
    soft_interrupts: int | None
    btime: float | None


def parse_stat(data: bytes) -> ProcStat:
    """``/proc/stat`` as psutil's ``cpu_times()``, ``cpu_times(percpu=True)``,
    ``cpu_stats()`` and ``boot_time()`` read it (``_pslinux.cpu_times``,
    ``per_cpu_times``, ``cpu_stats``, ``boot_time``): ticks / ``CLOCK_TICKS`` for the
    first ``len(scputimes._fields)`` columns of the ``cpu`` and ``cpuN`` lines, the first
    number of the ``ctxt``, ``intr``, ``softirq`` lines, ``btime`` as a float."""
    lines = data.split(b"\n")
    ticks = CLOCK_TICKS
    n = _NFIELDS + 1
    times = CpuTimes(*[float(x) / ticks for x in lines[0].split()[1:n]])
    percpu = []
    ctxt = intr = softirq = None
    btime = None
    for line in lines[1:]:
        head = line[:4]
        if head.startswith(b"cpu"):
            percpu.append(CpuTimes(*[float(x) / ticks for x in line.split()[1:n]]))
        elif head == b"ctxt" and ctxt is None:
            ctxt = int(line.split(None, 2)[1])
        elif head == b"intr" and intr is None:
            intr = int(line.split(None, 2)[1])  # the line has a number per IRQ: split 2
        elif head == b"soft" and softirq is None and line.startswith(b"softirq"):
            softirq = int(line.split(None, 2)[1])
        elif head == b"btim" and btime is None and line.startswith(b"btime"):
            btime = float(line.split(None, 2)[1])
    return ProcStat(times, tuple(percpu), ctxt, intr, softirq, btime)


def proc_stat(newer_than: float | None = None) -> tuple[float, ProcStat]:
    """``(when, ProcStat)``, shared with the other families of this call."""
    return shared("stat", lambda: parse_stat(proc("stat")), newer_than)


def boot_time() -> float:
    """``psutil.boot_time()`` (``_pslinux.boot_time``): /proc/stat's ``btime``, from the
    reading another family made moments ago when there is one."""
    hit = _shared.get("stat")
    if hit is not None and time.monotonic() - hit[0] < SHARE_WINDOW and hit[1].btime is not None:
        return float(hit[1].btime)
    data = proc("stat")
    start = data.find(b"\nbtime")
    if start < 0:
        raise RuntimeError("line 'btime' not found in /proc/stat")
    end = data.find(b"\n", start + 1)
    return float(data[start + 1 : end if end >= 0 else len(data)].split()[1])


def cpu_count() -> int | None:
    """``psutil.cpu_count()`` (``_pslinux.cpu_count_logical``), without its wrappers; the
    rare platform where sysconf cannot tell goes to psutil."""
    try:
        count = os.sysconf("SC_NPROCESSORS_ONLN")
    except ValueError:
        return psutil.cpu_count()
    return count if count >= 1 else None


# --- /proc/meminfo, /proc/vmstat: virtual_memory, swap_memory -------------------------


class VirtualMemory(NamedTuple):
    """The fields of psutil's ``svmem`` on Linux, same order."""

    total: int
    available: int
    percent: float
    used: int
    free: int
    active: int
    inactive: int
    buffers: int
    cached: int
    shared: int
    slab: int


class Swap(NamedTuple):
    total: int
    used: int
    free: int
    percent: float


def usage_percent(used: int | float, total: int | float) -> float:
    """``psutil._common.usage_percent(used, total, round_=1)``."""
    try:
        ret = (float(used) / total) * 100
    except ZeroDivisionError:
        return 0.0
    return round(ret, 1)


@dataclass(frozen=True, slots=True)
class MemInfo:
    #: ``None`` where psutil would take a path of its own (see :func:`parse_meminfo`)
    vm: VirtualMemory | None
    swap: Swap | None


_MEMINFO_KEYS = tuple(
    b"\n" + k
    for k in (
        b"MemTotal:", b"MemFree:", b"MemAvailable:", b"Buffers:", b"Cached:", b"SReclaimable:",
        b"Shmem:", b"Active:", b"Inactive:", b"Slab:", b"SwapTotal:", b"SwapFree:",
    )
)  # fmt: skip


def parse_meminfo(data: bytes) -> MemInfo:
    """``/proc/meminfo`` as ``_pslinux.virtual_memory`` and ``swap_memory`` compute it.

    Values are kB * 1024.  ``cached`` = Cached + SReclaimable; ``available`` =
    MemAvailable, or ``free`` when that exceeds ``total`` (a container);
    ``used`` = total - available; ``percent`` = used / total, 1 decimal.  ``vm`` is
    ``None`` when a field psutil warns about is missing or MemAvailable is missing or 0
    (psutil then estimates it from /proc/zoneinfo): the caller asks psutil.  Swap:
    ``used`` = SwapTotal - SwapFree; ``None`` without those lines (psutil asks
    sysinfo(2)).
    """
    mems: dict[bytes, int] = {}
    data = b"\n" + data
    find = data.find
    for key in _MEMINFO_KEYS:  # a dozen searches cost less than splitting ~55 lines
        start = find(key)
        if start >= 0:
            start += len(key)
            end = find(b"\n", start)
            mems[key[1:]] = (
                int(data[start : end if end >= 0 else len(data)].split(None, 1)[0]) * 1024
            )
    vm: VirtualMemory | None = None
    try:
        total = mems[b"MemTotal:"]
        free = mems[b"MemFree:"]
        buffers = mems[b"Buffers:"]
        cached = mems[b"Cached:"] + mems.get(b"SReclaimable:", 0)
        shared_ = mems[b"Shmem:"]
        active = mems[b"Active:"]
        inactive = mems[b"Inactive:"]
        avail = mems[b"MemAvailable:"]
    except KeyError:
        pass
    else:
        if avail > 0:
            if avail > total:
                avail = free
            used = total - avail
            vm = VirtualMemory(
                total,
                avail,
                usage_percent(used, total),
                used,
                free,
                active,
                inactive,
                buffers,
                cached,
                shared_,
                mems.get(b"Slab:", 0),
            )
    swap: Swap | None = None
    swap_total = mems.get(b"SwapTotal:")
    swap_free = mems.get(b"SwapFree:")
    if swap_total is not None and swap_free is not None:
        swap_used = swap_total - swap_free
        swap = Swap(swap_total, swap_used, swap_free, usage_percent(swap_used, swap_total))
    return MemInfo(vm, swap)


def meminfo(newer_than: float | None = None) -> tuple[float, MemInfo]:
    """``(when, MemInfo)``, shared with the other families of this call."""
    return shared("meminfo", lambda: parse_meminfo(proc("meminfo")), newer_than)


def virtual_memory(info: MemInfo) -> Any:
    """``info.vm``, or psutil's own reading where the direct parse stepped aside."""
    return info.vm if info.vm is not None else psutil.virtual_memory()


def parse_swap_io(data: bytes) -> tuple[int, int] | None:
    """``(sin, sout)`` in bytes from /proc/vmstat: ``pswpin``/``pswpout`` * 4096, as
    ``_pslinux.swap_memory`` (which counts 4 KiB pages whatever the page size)."""
    sin = _int_after(data, b"pswpin ")
    sout = _int_after(data, b"pswpout ")
    if sin is None or sout is None:
        return None
    return sin * 4 * 1024, sout * 4 * 1024


# --- /proc/cpuinfo, /sys/devices/system/cpu: cpu_freq ----------------------------------

SYS_CPU = "/sys/devices/system/cpu"
#: psutil decides once, at import, whether to read frequencies from sysfs
HAS_CPUFREQ = os.path.exists(f"{SYS_CPU}/cpufreq/policy0") or os.path.exists(
    f"{SYS_CPU}/cpu0/cpufreq"
)
_DIGITS = re.compile(r"[0-9]+")


def cpuinfo_mhz(data: bytes) -> list[float]:
    """``_pslinux._cpu_get_cpuinfo_freq``: every ``cpu MHz`` line of /proc/cpuinfo."""
    return [
        float(line.split(b":", 1)[1])
        for line in data.split(b"\n")
        if line[:7].lower() == b"cpu mhz"
    ]


def _cat(path: str) -> bytes | None:
    try:
        return read(path)
    except OSError:
        return None


def _cpufreq_dirs(sys_cpu: str) -> list[str]:
    """``glob(policy[0-9]*) or glob(cpu[0-9]*/cpufreq)``, in psutil's order."""
    try:
        names = os.listdir(f"{sys_cpu}/cpufreq")
    except OSError:
        names = []
    paths = [f"{sys_cpu}/cpufreq/{n}" for n in names if n[6:7].isascii() and
             n[6:7].isdigit() and n.startswith("policy")]  # fmt: skip
    if not paths:
        try:
            names = os.listdir(sys_cpu)
        except OSError:
            names = []
        paths = [
            f"{sys_cpu}/{n}/cpufreq"
            for n in names
            if n.startswith("cpu") and n[3:4].isascii() and n[3:4].isdigit()
            and os.path.lexists(f"{sys_cpu}/{n}/cpufreq")
        ]  # fmt: skip
    # psutil sorts on the first number of the whole path: here, the one after sys_cpu
    skip = len(sys_cpu)
    paths.sort(key=lambda x: int(_DIGITS.search(x, skip).group()))  # type: ignore[union-attr]
    return paths


def cpu_freq(
    cpuinfo: bytes, sys_cpu: str = SYS_CPU, has_cpufreq: bool = HAS_CPUFREQ
) -> tuple[float, float] | None:
    """``(current, max)`` MHz as ``psutil.cpu_freq()`` averages them, or ``None``.

    Mirrors ``_pslinux.cpu_freq`` and ``psutil.cpu_freq(percpu=False)``: with cpufreq in
    sysfs, each policy's current frequency is /proc/cpuinfo's when it lists as many CPUs
    as there are policies, else ``scaling_cur_freq`` (then ``cpuinfo_cur_freq``; an
    offline CPU counts 0); the max is ``scaling_max_freq``; both kHz / 1000, averaged.
    Without it, the mean of /proc/cpuinfo's ``cpu MHz`` and a max of 0.  Raises as psutil
    does when a frequency file is missing (``NotImplementedError``, ``OSError``).
    """
    freqs = cpuinfo_mhz(cpuinfo)
    if not has_cpufreq:
        entries = [(x, 0.0) for x in freqs]
    else:
        entries = []
        paths = _cpufreq_dirs(sys_cpu)
        for i, path in enumerate(paths):
            curr: Any
            if len(paths) == len(freqs):
                curr = freqs[i] * 1000
            else:
                curr = _cat(f"{path}/scaling_cur_freq")
            if curr is None:
                curr = _cat(f"{path}/cpuinfo_cur_freq")
                if curr is None:
                    online = _cat(f"{sys_cpu}/cpu{i}/online")
                    if online == b"0\n":
                        entries.append((0.0, 0.0))
                        continue
                    raise NotImplementedError("can't find current frequency file")
            max_ = int(read(f"{path}/scaling_max_freq")) / 1000
            int(read(f"{path}/scaling_min_freq"))  # psutil fails without it: so do we
            entries.append((int(curr) / 1000, max_))
    if not entries:
        return None
    if len(entries) == 1:
        return entries[0]
    currs = maxs = 0.0
    for c, m in entries:
        currs += c
        maxs += m
    return currs / len(entries), maxs / len(entries)


# --- counters that wrap: psutil's nowrap ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """psutil's ``_WrapNumbers`` state for one caller, kept in the sampler's state.

    ``raw`` is the last raw reading, ``values`` the same with the reminders added,
    ``reminders`` maps ``(key, index)`` to what was added after a counter went backwards.
    """

    raw: Mapping[str, tuple[int, ...]]
    values: Mapping[str, tuple[int, ...]]
    reminders: Mapping[tuple[str, int], int] = field(default_factory=dict)


def unwrap(raw: Mapping[str, tuple[int, ...]], previous: Unwrapped | None) -> Unwrapped:
    """``psutil._common._WrapNumbers.run``: a counter lower than last time wrapped (or
    was reset), so the last value is added to it from then on; a key that disappears
    loses its reminders; a new key starts raw.  ``previous`` is left untouched."""
    if previous is None:
        return Unwrapped(raw, raw)
    old_raw = previous.raw
    reminders = previous.reminders
    if reminders and any(key[0] not in raw for key in reminders):
        reminders = {k: v for k, v in reminders.items() if k[0] in raw}
    ge = operator.ge
    values: dict[str, tuple[int, ...]] = {}
    new_reminders: dict[tuple[str, int], int] | None = None
    for key, current in raw.items():
        old = old_raw.get(key)
        if old is None:
            values[key] = current
            continue
        if not reminders and all(map(ge, current, old)):
            values[key] = current  # the usual case: nothing wrapped, ever
            continue
        if new_reminders is None:
            new_reminders = dict(reminders)
        bits = []
        for i, (value, before) in enumerate(zip(current, old, strict=True)):
            remkey = (key, i)
            if value < before:
                new_reminders[remkey] = new_reminders.get(remkey, 0) + before
            bits.append(value + new_reminders.get(remkey, 0))
        values[key] = tuple(bits)
    return Unwrapped(raw, values, reminders if new_reminders is None else new_reminders)


# --- /proc/net/dev, interface flags and speed: net_io_counters, net_if_stats ----------


def parse_net_dev(data: bytes) -> dict[str, tuple[int, int]]:
    """``{interface: (bytes_sent, bytes_recv)}`` from /proc/net/dev, in the file's order,
    as ``_pslinux.net_io_counters`` parses it (name before the last colon; 16 numbers)."""
    out: dict[str, tuple[int, int]] = {}
    lines = data.split(b"\n")
    for line in lines[2:]:
        if not line:
            continue
        colon = line.rfind(b":")
        if colon <= 0:
            raise ValueError(f"unexpected /proc/net/dev line {line!r}")
        fields = line[colon + 1 :].split()
        if len(fields) != 16:
            raise ValueError(f"unexpected /proc/net/dev line {line!r}")
        out[os.fsdecode(line[:colon].strip())] = (int(fields[8]), int(fields[0]))
    return out


IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40
_SIOCGIFFLAGS = 0x8913
_SIOCETHTOOL = 0x8946
_ETHTOOL_GSET = 0x1
_SPEED_UNKNOWN = 0xFFFFFFFF
_INT_MAX = 0x7FFFFFFF
#: struct ethtool_cmd: cmd, supported, advertising, speed (u16), duplex... speed_hi (u16)
_ETHTOOL_CMD = struct.Struct("=IIIHBBBBBBIIHBBI8x")


class NicStat(NamedTuple):
    flags: int  # SIOCGIFFLAGS: IFF_RUNNING is psutil's ``isup``
    speed: int  # Mbps, 0 when unknown


_sock: socket.socket | None = None


def _ioctl_socket() -> socket.socket:
    """The socket the interface ioctls go through, opened once (creating a socket costs
    more than the ioctls themselves; concurrent ioctls on one socket are fine)."""
    global _sock
    sock = _sock
    if sock is None or sock.fileno() < 0:
        with _shared_lock:
            if _sock is None or _sock.fileno() < 0:
                _sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                atexit.register(_sock.close)
            sock = _sock
    return sock


def nic_stats(names: Iterable[str], with_speed: bool = True) -> dict[str, NicStat]:
    """The facts of ``psutil.net_if_stats()`` the plugins use, by the same ioctls.

    Mirrors ``_pslinux.net_if_stats`` and psutil's C ``net_if_flags`` and
    ``net_if_duplex_speed``: ``isup`` is IFF_RUNNING of SIOCGIFFLAGS; the speed is
    ETHTOOL_GSET's ``speed_hi << 16 | speed``, 0 when SPEED_UNKNOWN or above INT_MAX, or
    when the driver answers EOPNOTSUPP or EINVAL.  An interface gone meanwhile (ENODEV)
    is left out; any other error raises, as psutil does.  One socket, kept open, for all
    (psutil opens one per ioctl).
    """
    out: dict[str, NicStat] = {}
    fd = _ioctl_socket().fileno()
    cmd = ctypes.create_string_buffer(_ETHTOOL_CMD.size)
    for name in names:
        ifname = os.fsencode(name)[:15]
        try:
            res = fcntl.ioctl(fd, _SIOCGIFFLAGS, struct.pack("16sH22x", ifname, 0))
            flags = struct.unpack_from("H", res, 16)[0]
            speed = 0
            if with_speed:
                ctypes.memset(cmd, 0, _ETHTOOL_CMD.size)
                struct.pack_into("I", cmd, 0, _ETHTOOL_GSET)
                ifreq = struct.pack("16sP16x", ifname, ctypes.addressof(cmd))
                try:
                    fcntl.ioctl(fd, _SIOCETHTOOL, ifreq)
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                        raise
                else:
                    fields = _ETHTOOL_CMD.unpack(cmd.raw)
                    value = (fields[12] << 16) | fields[3]
                    speed = 0 if value == _SPEED_UNKNOWN or value > _INT_MAX else value
        except OSError as exc:
            if exc.errno != errno.ENODEV:
                raise
            continue
        out[name] = NicStat(flags, speed)
    return out


# --- /proc/diskstats: disk_io_counters(perdisk=True) ----------------------------------


def parse_diskstats(data: bytes) -> dict[str, tuple[int, int, int, int, int, int]] | None:
    """``{disk: (read_count, write_count, read_bytes, write_bytes, read_time,
    write_time)}`` as ``_pslinux.disk_io_counters(perdisk=True)`` reads /proc/diskstats:
    15 fields (2.4), 14 or 18+ (a disk), 7 (a 2.6 partition: no times); sectors * 512.
    ``None`` for a line psutil would not understand either (the caller asks psutil)."""
    out: dict[str, tuple[int, int, int, int, int, int]] = {}
    for line in data.split(b"\n"):
        fields = line.split()
        flen = len(fields)
        if flen == 0:
            continue
        if flen == 15:
            name = fields[3]
            reads = int(fields[2])
            rbytes, rtime, writes = int(fields[5]), int(fields[6]), int(fields[7])
            wbytes, wtime = int(fields[9]), int(fields[10])
        elif flen == 14 or flen >= 18:
            name = fields[2]
            reads, rbytes, rtime = int(fields[3]), int(fields[5]), int(fields[6])
            writes, wbytes, wtime = int(fields[7]), int(fields[9]), int(fields[10])
        elif flen == 7:
            name = fields[2]
            reads, rbytes, writes, wbytes = map(int, fields[3:])
            rtime = wtime = 0
        else:
            return None
        out[os.fsdecode(name)] = (
            reads, writes, rbytes * DISK_SECTOR_SIZE, wbytes * DISK_SECTOR_SIZE, rtime, wtime
        )  # fmt: skip
    return out


# --- mounts: disk_partitions(all=False), disk_usage ----------------------------------


class Partition(NamedTuple):
    device: str
    mountpoint: str
    fstype: str
    opts: str


def physical_fstypes(data: bytes) -> set[str]:
    """``_pslinux.disk_partitions``' reading of /proc/filesystems: every type not marked
    ``nodev``, and zfs."""
    fstypes = set()
    lines = data.decode(errors="surrogateescape").split("\n")
    if lines and not lines[-1]:
        lines.pop()  # a file iterates without a last empty line
    for line in lines:
        line = line.strip()
        if not line.startswith("nodev"):
            fstypes.add(line.strip())
        elif line.split("\t")[1] == "zfs":
            fstypes.add("zfs")
    return fstypes


_MNT_ESCAPE = re.compile(rb"\\(?:040|011|012|134|\\)")
_MNT_CHARS = {b"\\040": b" ", b"\\011": b"\t", b"\\012": b"\n", b"\\134": b"\\", b"\\\\": b"\\"}


def _mnt_decode(value: bytes) -> str:
    """glibc's ``decode_name`` (getmntent): \\040 \\011 \\012 \\134 and \\\\ unescaped."""
    if b"\\" in value:
        value = _MNT_ESCAPE.sub(lambda m: _MNT_CHARS[m.group()], value)
    return os.fsdecode(value)


def parse_mounts(data: bytes) -> list[tuple[str, str, str, str]]:
    """``(device, mountpoint, fstype, opts)`` per line, as glibc's ``getmntent`` (which
    psutil's C ``disk_partitions`` calls) splits them: blank and ``#`` lines skipped,
    fields separated by spaces or tabs, a missing field ``""``."""
    out = []
    for line in data.split(b"\n"):
        fields = [f for f in line.replace(b"\t", b" ").split(b" ") if f]
        if not fields or fields[0].startswith(b"#"):
            continue
        fields += [b""] * (4 - len(fields))
        out.append(
            (
                _mnt_decode(fields[0]),
                _mnt_decode(fields[1]),
                _mnt_decode(fields[2]),
                _mnt_decode(fields[3]),
            )
        )
    return out


def disk_partitions() -> list[Partition]:
    """``psutil.disk_partitions(all=False)``: mounts of a physical file system type with
    a device.  ``/etc/mtab`` if it is a file, else /proc/self/mounts, as psutil.  A
    ``/dev/root`` or ``rootfs`` device (psutil looks for the real device) goes to
    psutil."""
    fstypes = physical_fstypes(proc("filesystems"))
    # psutil opens os.path.realpath() of the same path: opening it reads the same file
    # without resolving each link of /etc/mtab -> ../proc/self/mounts -> /proc/<pid>
    if PROC == "/proc" and os.path.isfile("/etc/mtab"):
        mounts_path = "/etc/mtab"
    else:
        mounts_path = f"{PROC}/self/mounts"
    out = []
    for device, mountpoint, fstype, opts in parse_mounts(read(mounts_path)):
        if device == "none":
            device = ""
        if device in {"/dev/root", "rootfs"}:
            return [Partition(*p) for p in psutil.disk_partitions(all=False)]
        if not device or fstype not in fstypes:
            continue
        out.append(Partition(device, mountpoint, fstype, opts))
    return out


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int
    percent: float


def disk_usage(path: str) -> DiskUsage:
    """``psutil.disk_usage`` (``_psposix.disk_usage``): total and used as root sees them,
    free and percent as a user does."""
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    avail_to_root = st.f_bfree * st.f_frsize
    avail_to_user = st.f_bavail * st.f_frsize
    used = total - avail_to_root
    total_user = used + avail_to_user
    return DiskUsage(total, used, avail_to_user, usage_percent(used, total_user))
