"""Processes family: ``processcount``, ``processlist`` and ``programlist`` in ONE pass.

Walking every process is the dominant cost of a sampling round, so the three plugins
share one pass over ``/proc``, and each process costs three small reads: ``stat``
(state, CPU times, nice, threads, start time, kernel name), ``statm`` (memory) and
``io``, each an ``os.open``/``os.read``/``os.close`` (issue 6: the same facts through
psutil's per-call machinery cost 4-5x more CPU per process; see docs/benchmarks.md).
Every value is computed as psutil 7 computes it on Linux (``psutil/_pslinux.py``:
``_parse_stat_file``, ``cpu_times``, ``memory_info``, ``io_counters``, ``cmdline``,
``create_time`` and ``Process.name``), so the output is what the psutil-based sampler
gave; ``tests/pipeline/test_sampler_processes.py`` compares the two on this machine.

Between calls the sampler keeps, per pid, the previous CPU and I/O counters and the
static details (name, cmdline, username, gids), re-read every :data:`STATIC_REFRESH`
seconds as the reference does.

* Identity: a pid is the same process while its start time (``/proc/<pid>/stat``
  field 22) is unchanged.  A reused pid starts afresh.  A process that exec'd another
  program (its kernel name changed) has its details read again.
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
* ``processlist`` and ``programlist`` are sorted by the ``[processlist] sort_key``
  option (:func:`sort_entries`): ``auto`` (the default) and ``cpu_percent`` are CPU
  then memory, descending; ``memory_percent``, ``io_counters`` (bytes read and written
  over the interval) and ``cpu_times`` (user + system) descending; ``name`` and
  ``username`` ascending, as the reference sorts them.
* A process that vanishes mid-read is left out; details that are denied (or that a
  zombie no longer has) are ``None`` (``[]`` for cmdline).

The ``programlist`` grouping is in :mod:`pipeline.samplers.programs`, the extended stats
of one process (``ctx.extended_pid``, through psutil) in :func:`extended_stats`.
"""

from __future__ import annotations

import logging
import os
import pwd
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import psutil

from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs
from pipeline.samplers.programs import group_programs, sort_processes

log = logging.getLogger(__name__)

#: seconds after which name, cmdline, username and gids are read again
STATIC_REFRESH = 60.0
#: where the process directories are (a fixture tree in tests)
PROC_ROOT = "/proc"
PID_MAX_FILE = Path("/proc/sys/kernel/pid_max")
CLOCK_TICKS = procfs.CLOCK_TICKS
PAGESIZE = os.sysconf("SC_PAGE_SIZE")
#: how psutil decodes names and command lines
_ENCODING = sys.getfilesystemencoding()
_ERRORS = sys.getfilesystemencodeerrors()
#: /proc/<pid>/stat, statm and io are a few hundred bytes at most
_SMALL = 4096
#: the errors meaning "this process is gone" (psutil's NoSuchProcess)
_GONE = (FileNotFoundError, ProcessLookupError)
_IO_NAMES = [b"read_bytes:", b"write_bytes:"]
#: the kernel's state letters, decoded once
_STATES: dict[bytes, str] = {}


class Static(NamedTuple):
    """What rarely changes for a process: read on first sight and every STATIC_REFRESH."""

    name: str
    cmdline: tuple[str, ...]
    username: str | None
    gids: tuple[int, int, int] | None
    read_at: float
    comm: bytes  # the kernel's short name when read: a change means an exec


class Tracked(NamedTuple):
    """One process between two calls.

    Named tuples rather than frozen dataclasses: immutable too, and several times
    cheaper to build, which counts at one per process per round."""

    start: bytes  # start time in clock ticks since boot, as /proc/<pid>/stat has it
    cpu: float  # user + system seconds
    io: tuple[int, int] | None  # read_bytes, write_bytes
    static: Static | None


@dataclass(frozen=True, slots=True)
class ProcessesState:
    ts: float  # time.monotonic() of the reading
    wall: float  # time.time() of the reading
    tracked: Mapping[int, Tracked]
    usernames: Mapping[int, str]
    pid_max: int | None


def _read(path: str, size: int = _SMALL) -> bytes:
    """One ``os.read``: enough for the small per-process files, and one system call
    fewer per file than :func:`procfs.read`, which reads on to the end (three files a
    process a round)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


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


def parse_cmdline(data: bytes) -> list[str]:
    """psutil's ``cmdline()``: NUL-separated, or space-separated after a setproctitle."""
    text = data.decode(_ENCODING, _ERRORS)
    if not text:
        return []
    sep = "\x00" if text.endswith("\x00") else " "
    if text.endswith(sep):
        text = text[:-1]
    args = text.split(sep)
    if sep == "\x00" and len(args) == 1 and " " in text:
        args = text.split(" ")
    return args


def _ids(status: bytes, key: bytes) -> list[int] | None:
    """The numbers of the ``Uid:``/``Gid:`` line of ``/proc/<pid>/status``."""
    start = status.find(b"\n" + key)
    if start < 0:
        return None
    line = status[start + len(key) + 1 : status.find(b"\n", start + 1)]
    return [int(x) for x in line.split()]


def _read_static(base: str, comm: bytes, now: float, usernames: dict[int, str]) -> Static:
    """Name, cmdline, username and gids.  Raises OSError (``_GONE``) if it ended."""
    try:
        cmdline = parse_cmdline(procfs.read(base + "/cmdline"))
    except PermissionError:
        cmdline = []
    name = comm.decode(_ENCODING, _ERRORS)
    if len(name) >= 15 and cmdline:  # the kernel truncates it: psutil's Process.name()
        extended = os.path.basename(cmdline[0])
        if extended.startswith(name):
            name = extended
    try:
        status = procfs.read(base + "/status")
    except PermissionError:
        uids = gids = None
    else:
        uids, gids = _ids(status, b"Uid:"), _ids(status, b"Gid:")
    return Static(
        name=name,
        cmdline=tuple(cmdline),
        username=_username(uids[0], usernames) if uids else None,
        gids=(gids[0], gids[1], gids[2]) if gids and len(gids) >= 3 else None,
        read_at=now,
        comm=comm,
    )


def _io(base: str) -> tuple[int, int] | None:
    """``(read_bytes, write_bytes)`` of ``/proc/<pid>/io``; None where denied."""
    try:
        words = _read(base + "/io").split()
    except (PermissionError, ProcessLookupError):  # denied, or a zombie's
        return None
    # rchar, wchar, syscr, syscw, read_bytes, write_bytes, ... one "name: value" a line
    if words[8:12:2] == _IO_NAMES:
        return int(words[9]), int(words[11])
    fields = dict(zip(words[::2], words[1::2], strict=False))  # another layout: by name
    try:
        return int(fields[b"read_bytes:"]), int(fields[b"write_bytes:"])
    except KeyError:
        return None


def _state(letter: bytes) -> str:
    state = _STATES.get(letter)
    if state is None:
        state = _STATES[letter] = letter.decode("ascii", "replace")
    return state


def _entry(
    pid: int,
    fields: list[bytes],
    statm: bytes,
    static: Static,
    io: tuple[int, int] | None,
    old_io: tuple[int, int] | None,
    cpu_percent: float,
    mem_total: int,
    elapsed: float,
) -> dict[str, Any]:
    vms, rss, shared, text, lib, data, dirty = (int(x) * PAGESIZE for x in statm.split()[:7])
    if io is None:
        io_counters = [0, 0, 0, 0, 0]
    elif old_io is not None:
        io_counters = [io[0], io[1], old_io[0], old_io[1], 1]
    else:
        io_counters = [io[0], io[1], io[0], io[1], 0]
    gids = static.gids
    return {
        "key": "pid",
        "pid": pid,
        "name": static.name,
        "cmdline": list(static.cmdline),
        "username": static.username,
        "status": _state(fields[0]),
        "nice": int(fields[16]),
        "num_threads": int(fields[17]),
        "cpu_percent": cpu_percent,
        "memory_percent": rss / mem_total * 100 if mem_total else 0.0,
        "memory_info": {
            "rss": rss,
            "vms": vms,
            "shared": shared,
            "text": text,
            "lib": lib,
            "data": data,
            "dirty": dirty,
        },  # fmt: skip
        "cpu_times": {
            "user": float(fields[11]) / CLOCK_TICKS,
            "system": float(fields[12]) / CLOCK_TICKS,
            "children_user": float(fields[13]) / CLOCK_TICKS,
            "children_system": float(fields[14]) / CLOCK_TICKS,
            "iowait": float(fields[39]) / CLOCK_TICKS if len(fields) > 39 else 0.0,
        },
        "io_counters": io_counters,
        "gids": None if gids is None else {"real": gids[0], "effective": gids[1], "saved": gids[2]},
        "time_since_update": elapsed,
    }


def extended_stats(proc: psutil.Process) -> dict[str, Any]:
    """The extra fields of the process whose extended stats the API asked for."""

    def opt(fn: Any) -> Any:
        try:
            return fn()
        except (psutil.AccessDenied, psutil.ZombieProcess):
            return None

    ionice = opt(proc.ionice) if hasattr(proc, "ionice") else None
    ctx_switches = opt(proc.num_ctx_switches)
    full_info = opt(proc.memory_full_info)
    tcp = opt(lambda: len(proc.net_connections(kind="tcp")))
    udp = opt(lambda: len(proc.net_connections(kind="udp")))
    affinity = opt(proc.cpu_affinity) if hasattr(proc, "cpu_affinity") else None
    return {
        "extended_stats": True,
        "cpu_affinity": affinity,
        "ionice": None if ionice is None else [int(ionice[0]), int(ionice[1])],
        "num_ctx_switches": None
        if ctx_switches is None
        else {"voluntary": ctx_switches.voluntary, "involuntary": ctx_switches.involuntary},
        "num_fds": opt(proc.num_fds) if hasattr(proc, "num_fds") else None,
        "memory_swap": getattr(full_info, "swap", None),
        "tcp": tcp,
        "udp": udp,
    }


#: the sort keys that are CPU then memory, descending (programs.sort_processes)
_AUTO = frozenset({"auto", "cpu_percent"})


def _number(value: Any) -> float:
    return value if isinstance(value, (int, float)) else float("-inf")


def _text(value: Any) -> tuple[bool, str]:
    """A name for an ascending sort: those without one (denied) after the others."""
    return (value is None, "" if value is None else str(value))


def _io_bytes(entry: dict[str, Any]) -> float:
    """Bytes read and written over the interval (the reference's
    ``io[0] - io[2] + io[1] - io[3]``)."""
    io: Any = entry.get("io_counters")
    try:
        return float(io[0] - io[2] + io[1] - io[3])
    except (IndexError, TypeError):
        return float("-inf")


def _cpu_time(entry: dict[str, Any]) -> float:
    times = entry.get("cpu_times") or {}
    return _number(times.get("user", 0.0)) + _number(times.get("system", 0.0))


#: sort key -> (key function, descending); ``name``/``username`` break ties on
#: ``memory_percent`` in the same (ascending) order, as the reference's tuple sort does
_SORTS: dict[str, tuple[Any, bool]] = {
    "memory_percent": (lambda e: _number(e["memory_percent"]), True),
    "name": (lambda e: (_text(e["name"]), _number(e["memory_percent"])), False),
    "username": (lambda e: (_text(e["username"]), _number(e["memory_percent"])), False),
    "io_counters": (_io_bytes, True),
    "cpu_times": (_cpu_time, True),
}


def sort_entries(entries: list[dict[str, Any]], sort_key: str) -> None:
    """Sort processes (or programs) in place by the ``sort_key`` option."""
    if sort_key in _AUTO:
        sort_processes(entries)
        return
    key, descending = _SORTS[sort_key]
    entries.sort(key=key, reverse=descending)


def _pids(root: str) -> list[int]:
    """psutil.pids(): the numeric entries of /proc, sorted."""
    return sorted(int(name) for name in os.listdir(root) if name.isdigit())


def sample_processes(
    previous: ProcessesState | None, ctx: SampleContext
) -> tuple[dict[str, Any], ProcessesState]:
    root = PROC_ROOT
    want_list = "processlist" in ctx.enabled
    want_programs = "programlist" in ctx.enabled
    full = want_list or want_programs
    listing = full and previous is not None
    now, wall = time.monotonic(), time.time()
    prev_tracked: Mapping[int, Tracked] = previous.tracked if previous is not None else {}
    elapsed = now - previous.ts if previous is not None else 0.0
    usernames = dict(previous.usernames) if previous is not None else {}
    mem_total = procfs.virtual_memory(procfs.meminfo()[1]).total if listing else 0
    born_after = 0.0
    if previous is not None:  # start time (ticks since boot) of a process born since then
        born_after = (previous.wall - 1.0 - procfs.boot_time()) * CLOCK_TICKS
    tracked: dict[int, Tracked] = {}
    entries: list[dict[str, Any]] = []
    total = running = sleeping = threads = 0
    for pid in _pids(root):
        base = f"{root}/{pid}"
        try:
            stat = _read(base + "/stat")
            rpar = stat.rfind(b")")
            fields = stat[rpar + 2 :].split()
            start = fields[19]
            # psutil's cpu_times(): user and system from ticks, as floats
            cpu = float(fields[11]) / CLOCK_TICKS + float(fields[12]) / CLOCK_TICKS
            old = prev_tracked.get(pid)
            if old is not None and old.start != start:
                old = None  # the pid was reused by a new process
            io = static = statm = None
            if full:
                statm = _read(base + "/statm")
                io = _io(base)
                comm = stat[stat.find(b"(") + 1 : rpar]
                static = old.static if old is not None else None
                if static is None or now - static.read_at >= STATIC_REFRESH or comm != static.comm:
                    static = _read_static(base, comm, now, usernames)
        except _GONE:
            continue  # it ended while being read: not counted
        except PermissionError:
            continue  # hidden from us: not counted
        except (IndexError, ValueError) as exc:  # not the format this parser knows
            log.debug("cannot parse /proc/%d: %s", pid, exc)
            continue
        tracked[pid] = Tracked(start, cpu, io, static)
        total += 1
        threads += int(fields[17])
        state = fields[0]
        if state == b"R":
            running += 1
        elif state == b"S":
            sleeping += 1
        if not listing:
            continue
        assert static is not None and statm is not None
        if old is not None:
            used = max(0.0, cpu - old.cpu)
        elif int(start) >= born_after:  # born during the interval
            used = cpu
        else:
            used = 0.0
        cpu_percent = round(used / elapsed * 100, 1) if elapsed > 0 else 0.0
        entry = _entry(
            pid,
            fields,
            statm,
            static,
            io,
            old.io if old is not None else None,
            cpu_percent,
            mem_total,
            elapsed,
        )
        if pid == ctx.extended_pid:
            try:
                entry.update(extended_stats(psutil.Process(pid)))
            except psutil.Error as exc:  # it ended since: list it without them
                log.debug("no extended stats for pid %d: %s", pid, exc)
        entries.append(entry)
    pid_max = previous.pid_max if previous is not None else read_pid_max()
    state_out = ProcessesState(now, wall, tracked, usernames, pid_max)
    data: dict[str, Any] = {}
    if "processcount" in ctx.enabled:
        data["processcount"] = {
            "total": total,
            "running": running,
            "sleeping": sleeping,
            "thread": threads,
            "pid_max": pid_max,
        }
    if previous is not None:
        sort_key = ctx.config.plugins["processlist"].options["sort_key"]
        sort_entries(entries, sort_key)
        if want_list:
            data["processlist"] = entries
        if want_programs:
            programs = group_programs(entries)  # sorted the "auto" way
            if sort_key not in _AUTO:
                sort_entries(programs, sort_key)
            data["programlist"] = programs
    return data, state_out


SAMPLERS: list[SamplerSpec] = [
    SamplerSpec("processes", ("processcount", "processlist", "programlist"), sample_processes),
]
