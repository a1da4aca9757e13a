"""Processes family: ``processcount``, ``processlist`` and ``programlist`` in ONE pass.

Walking every process is the dominant cost of a sampling round, so the three plugins
share one pass over ``psutil.pids()`` and one ``oneshot()`` per process, and the
sampler keeps between calls, per pid, the ``psutil.Process`` object, the previous CPU
and I/O counters, and the static details (name, cmdline, username, gids), re-read every
:data:`STATIC_REFRESH` seconds as the reference does.

* Identity: a pid is the same process while its start time (``/proc/<pid>/stat``, read
  from the oneshot cache, so for free) is unchanged; where that is unavailable, while
  its CPU time does not go backwards.  A reused pid starts afresh.  A process that
  exec'd another program (its kernel name changed) has its details read again.
* ``cpu_percent`` is Glances': the process' user+system CPU time over the interval,
  per wall-clock second, times 100 (100 = one full core), rounded to 1 decimal.  A
  process born during the interval counts all its CPU time (the reference shows 0).
* ``memory_percent`` is ``rss / total memory * 100``.
* ``status`` is the kernel's one-letter state (R, S, D, T, t, Z, X, I, ...).
* ``io_counters`` is Glances' ``[read_bytes, write_bytes, read_bytes_prev,
  write_bytes_prev, tag]``: ``tag`` is 1 once a previous reading exists, 0 on a
  process' first round (the previous values then repeat the current ones), and the
  list is ``[0, 0, 0, 0, 0]`` where I/O counters are denied.
* The first call publishes only ``processcount`` (CPU usage needs two readings).
* A process that vanishes mid-read is left out; details that are denied (or that a
  zombie no longer has) are ``None`` (``[]`` for cmdline).

The ``programlist`` grouping is in :mod:`pipeline.samplers.programs`, the extended stats
of one process (``ctx.extended_pid``) in :func:`extended_stats`.
"""

from __future__ import annotations

import logging
import pwd
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import psutil

from pipeline.samplers.base import SampleContext, SamplerSpec
from pipeline.samplers.programs import group_programs, sort_processes

log = logging.getLogger(__name__)

#: seconds after which name, cmdline, username and gids are read again
STATIC_REFRESH = 60.0
PID_MAX_FILE = Path("/proc/sys/kernel/pid_max")

#: psutil's status names -> the kernel's one-letter states
STATUS_LETTERS = {
    "running": "R",
    "sleeping": "S",
    "disk-sleep": "D",
    "stopped": "T",
    "tracing-stop": "t",
    "zombie": "Z",
    "dead": "X",
    "wake-kill": "K",
    "waking": "W",
    "idle": "I",
    "locked": "L",
    "waiting": "W",
    "parked": "P",
}

T = TypeVar("T")


class Static(NamedTuple):
    """What rarely changes for a process: read on first sight and every STATIC_REFRESH."""

    name: str
    cmdline: tuple[str, ...]
    username: str | None
    gids: tuple[int, int, int] | None
    read_at: float
    comm: bytes | None  # the kernel's short name when read: a change means an exec


class Tracked(NamedTuple):
    """One process between two calls (its Process object is reused, never its counters).

    Named tuples rather than frozen dataclasses: immutable too, and several times
    cheaper to build, which counts at one per process per round."""

    proc: psutil.Process
    start: bytes | None  # start time in clock ticks since boot, as /proc/<pid>/stat has it
    cpu: float  # user + system seconds
    io: tuple[int, int] | None  # read_bytes, write_bytes
    static: Static | None


class Reading(NamedTuple):
    """This round's readings of one process (memory, nice and io: only for the lists)."""

    times: Any  # psutil pcputimes
    status: str
    num_threads: int
    memory: Any  # psutil pmem
    nice: int | None
    io: Any  # psutil pio


@dataclass(frozen=True, slots=True)
class ProcessesState:
    ts: float  # time.monotonic() of the reading
    wall: float  # time.time() of the reading
    tracked: Mapping[int, Tracked]
    usernames: Mapping[int, str]
    pid_max: int | None


_DENIED = (psutil.AccessDenied, psutil.ZombieProcess)


def _opt(fn: Callable[[], T]) -> T | None:
    """``fn()``, or ``None`` when denied or when the process is a zombie."""
    try:
        return fn()
    except _DENIED:
        return None


def _stat_identity(proc: psutil.Process) -> tuple[bytes | None, bytes | None]:
    """``(start time, comm)`` as ``/proc/<pid>/stat`` has them, or ``None``s.

    Call after cpu_times() inside oneshot(): psutil then holds the parsed stat file in
    its cache, so this costs no read.  The start time identifies the process; a new
    comm means it exec'd another program (its details must be read again).  Not public
    psutil API: elsewhere this answers ``(None, None)`` and the CPU-time check is used.
    """
    parse = getattr(getattr(proc, "_proc", None), "_parse_stat_file", None)
    if parse is None:
        return None, None
    try:
        stat = parse()
        start, comm = stat["create_time"], stat["name"]
    except (KeyError, TypeError):
        return None, None
    return (
        start if isinstance(start, bytes) else None,
        comm if isinstance(comm, bytes) else None,
    )


def read_pid_max(path: Path = PID_MAX_FILE) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        log.debug("cannot read %s: %s", path, exc)
        return None


def _username(uid: int, usernames: dict[int, str]) -> str:
    name = usernames.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:  # no such user: psutil answers the uid too
            name = str(uid)
        usernames[uid] = name
    return name


def _read_static(
    proc: psutil.Process, now: float, usernames: dict[int, str], comm: bytes | None
) -> Static:
    uids = _opt(proc.uids)
    gids = _opt(proc.gids)
    return Static(
        name=proc.name(),
        cmdline=tuple(_opt(proc.cmdline) or ()),
        username=_username(uids.real, usernames) if uids is not None else None,
        gids=(gids.real, gids.effective, gids.saved) if gids is not None else None,
        read_at=now,
        comm=comm,
    )


def _same_process(old: Tracked, start: bytes | None, cpu: float) -> bool:
    if start is not None and old.start is not None:
        return start == old.start
    return cpu + 0.01 >= old.cpu  # a younger process has used less CPU


def _observe(
    pid: int, old: Tracked | None, now: float, full: bool, usernames: dict[int, str]
) -> tuple[Tracked, Reading, bool]:
    """Read one process: ``(tracked, reading, known)``; ``known`` is False when there is
    no previous reading of this same process.  Raises NoSuchProcess and AccessDenied
    when the process cannot be read at all."""
    proc = old.proc if old is not None else psutil.Process(pid)
    memory = nice = io = None
    with proc.oneshot():
        times = proc.cpu_times()
        start, comm = _stat_identity(proc)
        cpu = times.user + times.system
        reused = old is not None and not _same_process(old, start, cpu)
        if not reused:
            status = proc.status()
            num_threads = proc.num_threads()
            static = old.static if old is not None else None
            if full:
                memory = proc.memory_info()
                try:
                    nice = proc.nice()
                except _DENIED:
                    pass
                try:
                    io = proc.io_counters()
                except _DENIED:
                    pass
                if (
                    static is None
                    or now - static.read_at >= STATIC_REFRESH
                    or (comm is not None and comm != static.comm)
                ):
                    static = _read_static(proc, now, usernames, comm)
    if reused:  # pid reused by a new process: start afresh with a new Process object
        return _observe(pid, None, now, full, usernames)
    io_pair = (io.read_bytes, io.write_bytes) if io is not None else None
    return (
        Tracked(proc, start, cpu, io_pair, static),
        Reading(times, status, num_threads, memory, nice, io),
        old is not None,
    )


def _entry(
    pid: int,
    tracked: Tracked,
    reading: Reading,
    old: Tracked | None,
    cpu_percent: float,
    mem_total: int,
    elapsed: float,
) -> dict[str, Any]:
    static = tracked.static
    assert static is not None  # full readings always carry it
    memory = reading.memory
    io = tracked.io
    if io is None:
        io_counters = [0, 0, 0, 0, 0]
    elif old is not None and old.io is not None:
        io_counters = [io[0], io[1], old.io[0], old.io[1], 1]
    else:
        io_counters = [io[0], io[1], io[0], io[1], 0]
    gids = static.gids
    return {
        "key": "pid",
        "pid": pid,
        "name": static.name,
        "cmdline": list(static.cmdline),
        "username": static.username,
        "status": STATUS_LETTERS.get(reading.status, "?"),
        "nice": reading.nice,
        "num_threads": reading.num_threads,
        "cpu_percent": cpu_percent,
        "memory_percent": memory.rss / mem_total * 100 if mem_total else 0.0,
        "memory_info": memory._asdict(),
        "cpu_times": reading.times._asdict(),
        "io_counters": io_counters,
        "gids": None if gids is None else {"real": gids[0], "effective": gids[1], "saved": gids[2]},
        "time_since_update": elapsed,
    }


def extended_stats(proc: psutil.Process) -> dict[str, Any]:
    """The extra fields of the process whose extended stats the API asked for."""
    ionice = _opt(proc.ionice) if hasattr(proc, "ionice") else None
    ctx_switches = _opt(proc.num_ctx_switches)
    full_info = _opt(proc.memory_full_info)
    tcp = _opt(lambda: len(proc.net_connections(kind="tcp")))
    udp = _opt(lambda: len(proc.net_connections(kind="udp")))
    affinity = _opt(proc.cpu_affinity) if hasattr(proc, "cpu_affinity") else None
    return {
        "extended_stats": True,
        "cpu_affinity": affinity,
        "ionice": None if ionice is None else [int(ionice[0]), int(ionice[1])],
        "num_ctx_switches": None
        if ctx_switches is None
        else {"voluntary": ctx_switches.voluntary, "involuntary": ctx_switches.involuntary},
        "num_fds": _opt(proc.num_fds) if hasattr(proc, "num_fds") else None,
        "memory_swap": getattr(full_info, "swap", None),
        "tcp": tcp,
        "udp": udp,
    }


def sample_processes(
    previous: ProcessesState | None, ctx: SampleContext
) -> tuple[dict[str, Any], ProcessesState]:
    want_list = "processlist" in ctx.enabled
    want_programs = "programlist" in ctx.enabled
    full = want_list or want_programs
    now, wall = time.monotonic(), time.time()
    prev_tracked: Mapping[int, Tracked] = previous.tracked if previous is not None else {}
    elapsed = now - previous.ts if previous is not None else 0.0
    usernames = dict(previous.usernames) if previous is not None else {}
    mem_total = psutil.virtual_memory().total if full else 0
    tracked: dict[int, Tracked] = {}
    entries: list[dict[str, Any]] = []
    count = {"total": 0, "running": 0, "sleeping": 0, "thread": 0}
    for pid in psutil.pids():
        old = prev_tracked.get(pid)
        try:
            item, reading, known = _observe(pid, old, now, full, usernames)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # gone, or hidden from us: not counted
        tracked[pid] = item
        count["total"] += 1
        count["thread"] += reading.num_threads
        status = reading.status
        if status == psutil.STATUS_RUNNING:
            count["running"] += 1
        elif status == psutil.STATUS_SLEEPING:
            count["sleeping"] += 1
        if not full or previous is None:
            continue
        if known:
            assert old is not None
            used = max(0.0, item.cpu - old.cpu)
        elif item.proc.create_time() >= previous.wall - 1.0:  # born during the interval
            used = item.cpu
        else:
            used = 0.0
        cpu_percent = round(used / elapsed * 100, 1) if elapsed > 0 else 0.0
        entry = _entry(pid, item, reading, old if known else None, cpu_percent, mem_total, elapsed)
        if pid == ctx.extended_pid:
            try:
                entry.update(extended_stats(item.proc))
            except psutil.Error as exc:  # it ended since: list it without them
                log.debug("no extended stats for pid %d: %s", pid, exc)
        entries.append(entry)
    pid_max = previous.pid_max if previous is not None else read_pid_max()
    state = ProcessesState(now, wall, tracked, usernames, pid_max)
    data: dict[str, Any] = {}
    if "processcount" in ctx.enabled:
        data["processcount"] = {**count, "pid_max": pid_max}
    if previous is not None:
        sort_processes(entries)
        if want_list:
            data["processlist"] = entries
        if want_programs:
            data["programlist"] = group_programs(entries)
    return data, state


SAMPLERS: list[SamplerSpec] = [
    SamplerSpec("processes", ("processcount", "processlist", "programlist"), sample_processes),
]
