"""Memory family: ``mem`` (virtual memory) and ``memswap`` (swap).

``mem.used`` is ``total - available`` as in Glances (psutil's own ``used`` leaves out
buffers and cache differently per platform).  ``percent_min``/``percent_max``/
``percent_mean`` are tracked since start; the mean is a running mean whose sample count
stops growing at :data:`MEAN_WINDOW`, so after that it follows the last ~16 hours (at a
2 s refresh) rather than freezing.  ``memswap`` carries ``time_since_update``, so it
waits for a second reading like the rate plugins do.

Both read ``/proc/meminfo`` once between them (and with ``quicklook``) through
:mod:`pipeline.samplers.procfs`, with psutil's ``virtual_memory``/``swap_memory``
formulas; ``memswap``'s ``sin``/``sout`` come from ``/proc/vmstat``.  Where psutil would
take a path of its own (a field missing from the file) psutil is asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, NamedTuple

import psutil

from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs

log = logging.getLogger(__name__)

#: the most samples the running mean of ``mem.percent`` averages over (as Glances)
MEAN_WINDOW = 28800

MEM_FIELDS = (
    "total", "available", "percent", "free", "active", "inactive", "buffers", "cached", "shared"
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MemoryState:
    ts: float
    #: ``mem.percent`` since start: minimum, maximum, running mean and sample count
    percent_min: float | None = None
    percent_max: float | None = None
    percent_mean: float = 0.0
    count: int = 0


class SwapMemory(NamedTuple):
    """psutil's ``sswap``."""

    total: int
    used: int
    free: int
    percent: float
    sin: int
    sout: int


def swap_memory(info: procfs.MemInfo) -> Any:
    """``psutil.swap_memory()`` from ``info`` and /proc/vmstat (else psutil's own)."""
    if info.swap is None:
        return psutil.swap_memory()
    try:
        swap_io = procfs.parse_swap_io(procfs.proc("vmstat"))
    except OSError:
        swap_io = None
    if swap_io is None:  # psutil warns and counts 0 there
        return psutil.swap_memory()
    return SwapMemory(*info.swap, *swap_io)


def sample_memory(
    previous: MemoryState | None, ctx: SampleContext
) -> tuple[dict[str, Any], MemoryState]:
    now, info = procfs.meminfo(None if previous is None else previous.ts)
    data: dict[str, Any] = {}
    state = MemoryState(ts=now)
    if "mem" in ctx.enabled:
        vm = procfs.virtual_memory(info)
        mem: dict[str, Any] = {name: getattr(vm, name, 0) for name in MEM_FIELDS}
        mem["used"] = vm.total - vm.available
        percent = float(vm.percent)
        if previous is None or previous.percent_min is None or previous.percent_max is None:
            low, high, mean, count = percent, percent, percent, 1
        else:
            low = min(previous.percent_min, percent)
            high = max(previous.percent_max, percent)
            count = min(previous.count + 1, MEAN_WINDOW)
            mean = previous.percent_mean + (percent - previous.percent_mean) / count
        mem["percent_min"] = low
        mem["percent_max"] = high
        mem["percent_mean"] = mean
        data["mem"] = mem
        state = MemoryState(now, low, high, mean, count)
    if "memswap" in ctx.enabled and previous is not None:
        sw = swap_memory(info)
        data["memswap"] = {
            "total": sw.total,
            "used": sw.used,
            "free": sw.free,
            "percent": sw.percent,
            "sin": sw.sin,
            "sout": sw.sout,
            "time_since_update": now - previous.ts,
        }
    return data, state


SAMPLERS: list[SamplerSpec] = [SamplerSpec("memory", ("mem", "memswap"), sample_memory)]
