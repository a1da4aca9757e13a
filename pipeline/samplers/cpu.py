"""CPU family: ``cpu`` and ``percpu``, ``load`` and ``core``, and ``quicklook``.

Percentages come from deltas of ``psutil.cpu_times()`` kept in the sampler's own state,
never from ``psutil.cpu_percent``/``cpu_times_percent``: those keep module-global state
that every caller shares, so two samplers (or a test) would corrupt each other's
readings.  The formulas are psutil's, except that a field's share is always taken of
the real elapsed CPU time (psutil divides by at least one second of CPU time, which
under-reads short intervals):

* total time = the sum of all fields minus ``guest`` and ``guest_nice`` (the kernel
  already counts them in ``user`` and ``nice``);
* busy = total - idle - iowait, and ``total`` % = busy / total;
* each field % = its delta / total, rounded to 1 decimal and clamped to 0..100.

The readings come from :mod:`pipeline.samplers.procfs`, which parses ``/proc/stat``
once per round for ``cpu_times``, the per-CPU times and ``cpu_stats`` together (psutil
reads the file three times) with psutil's formulas, and shares that reading (and
``/proc/meminfo``'s) between ``cpu``, ``quicklook`` and ``memory`` when the runner calls
them together.
"""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import psutil

from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs
from pipeline.samplers.base import rate_fields

log = logging.getLogger(__name__)

#: ``cpu`` plugin percentage fields (Glances v4 takes these from cpu_times_percent)
CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "steal", "guest")
#: ``percpu`` entry percentage fields
PERCPU_FIELDS = (
    "user", "system", "idle", "nice", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"
)  # fmt: skip
#: ``psutil.cpu_stats()`` counters, published as Glances v4 rate fields
CPU_COUNTERS = ("ctx_switches", "interrupts", "soft_interrupts", "syscalls")


def times_percent(before: Any, after: Any) -> tuple[float, dict[str, float]]:
    """``(total %, {field: %})`` between two ``cpu_times`` readings (see module doc)."""
    # max(0, a - b) per field; every share is >= 0 then, so only the 100 cap is needed
    values = [a - b if a > b else 0.0 for a, b in zip(after, before, strict=True)]
    deltas = dict(zip(after._fields, values, strict=True))
    all_delta = sum(values) - deltas.get("guest", 0.0) - deltas.get("guest_nice", 0.0)
    if all_delta <= 0:
        return 0.0, dict.fromkeys(deltas, 0.0)
    scale = 100.0 / all_delta
    busy = all_delta - deltas["idle"] - deltas.get("iowait", 0.0)
    fields = {f: min(100.0, round(d * scale, 1)) for f, d in deltas.items()}
    return min(100.0, max(0.0, round(busy * scale, 1))), fields


def percpu_entries(before: tuple[Any, ...], after: tuple[Any, ...]) -> list[dict[str, Any]] | None:
    """The ``percpu`` list between two per-CPU readings; ``None`` if the CPU set changed."""
    if len(before) != len(after):
        return None
    out: list[dict[str, Any]] = []
    for number, (b, a) in enumerate(zip(before, after, strict=True)):
        _, pct = times_percent(b, a)
        entry: dict[str, Any] = {"key": "cpu_number", "cpu_number": number}
        entry["total"] = round(100.0 - pct["idle"], 1)
        for name in PERCPU_FIELDS:
            entry[name] = pct.get(name, 0.0)
        entry["dpc"] = None
        entry["interrupt"] = None
        out.append(entry)
    return out


# --- cpu + percpu ----------------------------------------------------------------------


class CpuStats(NamedTuple):
    """psutil's ``scpustats`` on Linux (``syscalls`` is always 0 there)."""

    ctx_switches: int | None
    interrupts: int | None
    soft_interrupts: int | None
    syscalls: int


@dataclass(frozen=True, slots=True)
class CpuState:
    ts: float
    times: Any | None  # psutil scputimes (an immutable named tuple)
    percpu: tuple[Any, ...] | None
    stats: CpuStats | None


def sample_cpu(previous: CpuState | None, ctx: SampleContext) -> tuple[dict[str, Any], CpuState]:
    """``cpu`` and ``percpu``; both need two readings, so the first call publishes nothing."""
    want_cpu = "cpu" in ctx.enabled
    want_percpu = "percpu" in ctx.enabled
    now, stat = procfs.proc_stat(None if previous is None else previous.ts)
    state = CpuState(
        ts=now,
        times=stat.times if want_cpu else None,
        percpu=stat.percpu if want_percpu else None,
        stats=CpuStats(stat.ctx_switches, stat.interrupts, stat.soft_interrupts, 0)
        if want_cpu
        else None,
    )
    data: dict[str, Any] = {}
    if previous is None:
        return data, state
    elapsed = now - previous.ts
    if want_cpu and previous.times is not None and previous.stats is not None:
        total, pct = times_percent(previous.times, state.times)
        cpu: dict[str, Any] = {"total": total}
        for name in CPU_FIELDS:
            cpu[name] = pct.get(name, 0.0)
        for name in CPU_COUNTERS:
            rate_fields(
                cpu, name, getattr(state.stats, name), getattr(previous.stats, name), elapsed
            )
        cpu["cpucore"] = procfs.cpu_count() or len(state.percpu or ()) or 1
        cpu["time_since_update"] = elapsed
        data["cpu"] = cpu
    if want_percpu and previous.percpu is not None and state.percpu is not None:
        entries = percpu_entries(previous.percpu, state.percpu)
        if entries is not None:  # else a CPU came or went: prime again
            data["percpu"] = entries
    return data, state


# --- load + core -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoreCounts:
    logical: int
    physical: int | None  # None when the OS cannot tell


def core_counts(previous: CoreCounts | None) -> CoreCounts:
    """The CPU counts; the physical count (a file per CPU to read) only when the logical
    one changed (a CPU came online or went offline)."""
    logical = procfs.cpu_count() or 1
    if previous is not None and previous.logical == logical:
        return previous
    return CoreCounts(logical, psutil.cpu_count(logical=False))


def sample_load(
    previous: CoreCounts | None, ctx: SampleContext
) -> tuple[dict[str, Any], CoreCounts]:
    """``load`` (the 1/5/15 min load averages) and ``core`` (CPU counts)."""
    cores = core_counts(previous)
    data: dict[str, Any] = {}
    if "load" in ctx.enabled:
        min1, min5, min15 = psutil.getloadavg()
        data["load"] = {"min1": min1, "min5": min5, "min15": min15, "cpucore": cores.logical}
    if "core" in ctx.enabled:
        data["core"] = {"phys": cores.physical, "log": cores.logical}
    return data, cores


# --- quicklook -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuicklookState:
    ts: float
    times: Any
    percpu: tuple[Any, ...]
    cpu_name: str
    cores: CoreCounts


def cpu_name() -> str:
    """The CPU model: ``model name`` in /proc/cpuinfo, else the platform's, else "CPU"."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError as exc:
        log.debug("cannot read /proc/cpuinfo: %s", exc)
    return platform.processor() or "CPU"


def cpu_hz() -> tuple[float | None, float | None]:
    """``(current, max)`` CPU frequency in Hz; ``None`` where the OS does not say.

    ``psutil.cpu_freq()``'s figures, read by :func:`procfs.cpu_freq` (same sources and
    averaging, without psutil's per-CPU named tuples and buffered file objects)."""
    try:
        freq = procfs.cpu_freq(procfs.proc("cpuinfo"))
    except (OSError, NotImplementedError, AttributeError) as exc:
        log.debug("cpu_freq unavailable: %s", exc)
        return None, None
    if freq is None:
        return None, None
    current = freq[0] * 1e6 if freq[0] else None
    maximum = freq[1] * 1e6 if freq[1] else None
    return current, maximum


def sample_quicklook(
    previous: QuicklookState | None, ctx: SampleContext
) -> tuple[dict[str, Any], QuicklookState]:
    """``quicklook``: cpu, per-CPU, mem, swap and load at a glance (primes like ``cpu``)."""
    now, stat = procfs.proc_stat(None if previous is None else previous.ts)
    state = QuicklookState(
        ts=now,
        times=stat.times,
        percpu=stat.percpu,
        cpu_name=previous.cpu_name if previous is not None else cpu_name(),
        cores=core_counts(previous.cores if previous is not None else None),
    )
    if previous is None:
        return {}, state
    percpu = percpu_entries(previous.percpu, state.percpu)
    if percpu is None:
        return {}, state
    total, _ = times_percent(previous.times, state.times)
    logical = state.cores.logical
    hz_current, hz_max = cpu_hz()
    _, mem = procfs.meminfo()  # the memory family's reading when it ran just before
    swap = mem.swap if mem.swap is not None else psutil.swap_memory()
    quicklook = {
        "cpu": total,
        "percpu": percpu,
        "mem": procfs.virtual_memory(mem).percent,
        "swap": swap.percent,
        "load": round(os.getloadavg()[2] / logical * 100, 1),
        "cpu_log_core": logical,
        "cpu_phys_core": state.cores.physical,
        "cpu_name": state.cpu_name,
        "cpu_hz_current": hz_current,
        "cpu_hz": hz_max,
    }
    return {"quicklook": quicklook}, state


SAMPLERS: list[SamplerSpec] = [
    SamplerSpec("cpu", ("cpu", "percpu"), sample_cpu),
    SamplerSpec("load", ("load", "core"), sample_load),
    SamplerSpec("quicklook", ("quicklook",), sample_quicklook),
]
