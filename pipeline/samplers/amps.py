"""The ``amps`` plugin: Application Monitoring Processes, one entry per ``[[amps.amp]]``.

Each entry is served as the spec shows it::

    {"name": "nginx", "count": 3, "countmin": 1.0, "countmax": None, "refresh": 3.0,
     "regex": True, "result": "active", "timer": 2.99, "key": "name"}

* ``count``: the processes whose name, or whose command line joined by spaces, matches
  ``regex`` (``re.search``, the reference's ``_build_amps_list``); several regexes
  match when any does.  Processes are read from ``/proc/<pid>/stat`` and ``cmdline``
  under :data:`procfs.PROC`; the name is psutil's (the kernel's 15-character name,
  extended from ``cmdline[0]`` when truncated).
* ``result``: the output of ``command``, run **without a shell** (an argument list) with
  ``command_timeout``: its stderr when it wrote any, else its stdout, as the reference's
  ``secure_popen``; trailing blanks stripped, and with ``one_line`` its lines joined by
  ``" | "``.  A command that times out is killed (its whole process group) and the result
  says so, as it does when the program is missing or cannot run; such a failure is
  logged once, when it first happens.  Without a command, the reference's default
  ``"CPU: 1.2% | MEM: 3.4%"``: the matched processes' CPU (100 = one core, over the
  interval since this AMP's previous update, 0 for a process first seen) and resident
  memory, summed.  When nothing matches, the command is not run: ``result`` is
  ``"No running process"`` when ``countmin`` > 0, else ``None``.
* ``timer``: seconds until the AMP's next update.  An AMP is updated (count and result)
  only once its own ``refresh`` has passed; in between its last entry is served with
  the timer running down.  ``/proc`` is not read in a round where no AMP is due.

The commands of the AMPs due in one round run side by side, one thread each, and each
timeout is capped at :data:`BUDGET_SHARE` of the sampler timeout
(``ctx.config.timeout_of("amps")``), so a round ends before the runner would abandon it.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import psutil

from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import commands, procfs
from pipeline.samplers.processes import CLOCK_TICKS, PAGESIZE, _pids, parse_cmdline
from pipeline.samplers.sidebyside import SideBySide

log = logging.getLogger(__name__)

#: the clock of the AMPs' schedule (a seam for tests)
monotonic: Callable[[], float] = time.monotonic
#: the share of the sampler timeout the commands of one round may take
BUDGET_SHARE = 0.7
#: how long past its timeout a command's thread is waited for (it is being killed)
JOIN_GRACE = 2.0
NO_PROCESS = "No running process"


@dataclass(frozen=True, slots=True)
class AmpState:
    count: int
    result: str | None
    #: ``monotonic()`` of the update
    updated_at: float
    #: matched pid -> (start time in ticks, user + system CPU seconds), for CPU %
    cpu: Mapping[int, tuple[bytes, float]] = field(default_factory=dict)
    #: the last failure of the command (logged when it changes)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AmpsState:
    #: AMP name -> its last update
    amps: Mapping[str, AmpState]


class Proc(NamedTuple):
    pid: int
    name: str
    cmdline: tuple[str, ...]
    start: bytes
    cpu: float  # user + system seconds
    rss: int  # bytes


def _patterns(regex: str | Sequence[str]) -> list[re.Pattern[str]]:
    items = [regex] if isinstance(regex, str) else list(regex)
    return [re.compile(r) for r in items if r]


def _matches(patterns: list[re.Pattern[str]], name: str, cmdline: tuple[str, ...]) -> bool:
    if any(p.search(name) for p in patterns):
        return True
    if not cmdline:
        return False
    joined = " ".join(cmdline)
    return any(p.search(joined) for p in patterns)


def scan(root: str, wanted: list[list[re.Pattern[str]]]) -> list[list[Proc]]:
    """The processes under ``root`` matching each entry of ``wanted`` (a list of
    patterns per AMP), in pid order.  A process that ends while read is left out; a
    command line that is denied is empty."""
    found: list[list[Proc]] = [[] for _ in wanted]
    try:
        pids = _pids(root)
    except OSError as exc:  # no procfs here: nothing runs, as far as we can tell
        log.debug("cannot list %s: %s", root, exc)
        return found
    for pid in pids:
        base = f"{root}/{pid}"
        try:
            stat = procfs.read(base + "/stat")
            lpar, rpar = stat.find(b"("), stat.rfind(b")")
            fields = stat[rpar + 2 :].split()
            comm = stat[lpar + 1 : rpar].decode(errors="surrogateescape")
            start = fields[19]
            cpu = float(fields[11]) / CLOCK_TICKS + float(fields[12]) / CLOCK_TICKS
            rss = int(fields[21]) * PAGESIZE
            try:
                cmdline = tuple(parse_cmdline(procfs.read(base + "/cmdline")))
            except PermissionError:
                cmdline = ()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # ended meanwhile, or hidden from us
        except (IndexError, ValueError) as exc:  # not the format this parser knows
            log.debug("cannot parse %s/stat: %s", base, exc)
            continue
        name = comm
        if len(name) >= 15 and cmdline:  # truncated by the kernel: psutil's Process.name()
            extended = os.path.basename(cmdline[0])
            if extended.startswith(name):
                name = extended
        proc = Proc(pid, name, cmdline, start, cpu, rss)
        for i, patterns in enumerate(wanted):
            if patterns and _matches(patterns, name, cmdline):
                found[i].append(proc)
    return found


def run_command(argv: Sequence[str], timeout: float) -> tuple[str | None, str | None]:
    """``(output, error)``: the command's stderr if it wrote any, else its stdout,
    decoded; or ``(None, why)`` when it could not run or did not finish within
    ``timeout`` seconds (its process group is then killed)."""
    try:
        done = commands.run(argv, timeout)
    except commands.CommandFailed as exc:
        return None, str(exc)
    text = done.stderr if done.stderr else done.stdout
    return text.decode(errors="replace"), None


class _Run:
    __slots__ = ("output", "error")

    def __init__(self) -> None:
        self.output: str | None = None
        self.error: str | None = None


def _run_into(argv: Sequence[str], timeout: float, run: _Run) -> None:
    run.output, run.error = run_command(argv, timeout)


#: the commands, side by side; one still running past its budget (a child stuck in the
#: kernel) is not started again until it returns
_COMMANDS = SideBySide("amps")


def _run_all(todo: Mapping[str, tuple[Sequence[str], float]]) -> dict[str, _Run]:
    """Each ``{name: (argv, timeout)}`` run in a thread of its own, side by side."""
    runs = {name: _Run() for name in todo}
    now = time.monotonic()
    jobs = {
        name: (partial(_run_into, argv, timeout, runs[name]), now + timeout)
        for name, (argv, timeout) in todo.items()
    }
    # the reaping of a killed command takes up to REAP_WAIT more
    skipped, unfinished = _COMMANDS.run(jobs, grace=JOIN_GRACE + commands.REAP_WAIT)
    for name in skipped | unfinished:
        runs[name].output, runs[name].error = None, f"Command did not finish: {todo[name][0][0]}"
    return runs


def _result(text: str, one_line: bool) -> str:
    text = text.rstrip()
    return text.replace("\r\n", "\n").replace("\n", " | ") if one_line else text


def _summary(procs: list[Proc], old: AmpState | None, now: float, mem_total: int) -> str:
    """The reference's default result: the matched processes' CPU and memory, summed."""
    cpu = 0.0
    if old is not None and now > old.updated_at:
        elapsed = now - old.updated_at
        for p in procs:
            before = old.cpu.get(p.pid)
            if before is not None and before[0] == p.start:
                cpu += max(0.0, p.cpu - before[1]) / elapsed * 100
    mem = sum(p.rss for p in procs) / mem_total * 100 if mem_total > 0 else 0.0
    return f"CPU: {cpu:.1f}% | MEM: {mem:.1f}%"


def _mem_total() -> int:
    try:
        return int(procfs.virtual_memory(procfs.meminfo()[1]).total)
    except (OSError, ValueError, IndexError):
        return int(psutil.virtual_memory().total)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def sample_amps(previous: AmpsState | None, ctx: SampleContext) -> tuple[dict[str, Any], AmpsState]:
    amps = ctx.config.plugins["amps"].options["amp"]
    if not amps:
        return {"amps": PLUGINS["amps"].empty()}, AmpsState({})
    last: Mapping[str, AmpState] = previous.amps if previous is not None else {}
    now = monotonic()
    configured: dict[str, Mapping[str, Any]] = {}
    for amp in amps:
        configured.setdefault(amp["name"], amp)  # the key is unique: the first one wins
    due = [
        name
        for name, amp in configured.items()
        if name not in last or now - last[name].updated_at >= amp["refresh"]
    ]
    states = {name: s for name, s in last.items() if name in configured}
    if due:
        states.update(_update(due, configured, last, now, ctx))
    entries = []
    for name, amp in configured.items():
        state = states[name]
        entries.append(
            {
                "key": "name",
                "name": name,
                "result": state.result,
                "refresh": float(amp["refresh"]),
                "timer": max(0.0, state.updated_at + amp["refresh"] - now),
                "count": state.count,
                "countmin": _float(amp["countmin"]),
                "countmax": _float(amp["countmax"]),
                "regex": bool(_patterns(amp["regex"])),
            }
        )
    return {"amps": entries}, AmpsState(states)


def _update(
    due: list[str],
    configured: Mapping[str, Mapping[str, Any]],
    last: Mapping[str, AmpState],
    now: float,
    ctx: SampleContext,
) -> dict[str, AmpState]:
    """The new state of each AMP in ``due``: processes counted, commands run."""
    patterns = [_patterns(configured[name]["regex"]) for name in due]
    found = scan(procfs.PROC, patterns) if any(patterns) else [[] for _ in due]
    cap = ctx.config.timeout_of("amps") * BUDGET_SHARE
    todo = {}
    for name, pats, procs in zip(due, patterns, found, strict=True):
        amp = configured[name]
        if amp["command"] and (procs or not pats):  # no regex: run it anyway (ref #1690)
            todo[name] = (amp["command"], min(amp["command_timeout"], cap))
    runs = _run_all(todo) if todo else {}
    mem_total: int | None = None
    out: dict[str, AmpState] = {}
    for name, pats, procs in zip(due, patterns, found, strict=True):
        amp, old = configured[name], last.get(name)
        error: str | None = None
        if pats and not procs:
            countmin = amp["countmin"]
            result = NO_PROCESS if countmin is not None and countmin > 0 else None
        elif name in runs:
            run = runs[name]
            error = run.error
            result = _result(run.output, amp["one_line"]) if run.output is not None else error
        else:
            if mem_total is None:
                mem_total = _mem_total()
            result = _summary(procs, old, now, mem_total)
        if error is not None and (old is None or old.error != error):
            log.warning("amp %s: %s", name, error)
        cpu = {p.pid: (p.start, p.cpu) for p in procs}
        out[name] = AmpState(len(procs), result, now, cpu, error)
    return out


SAMPLERS = [SamplerSpec("amps", ("amps",), sample_amps)]
