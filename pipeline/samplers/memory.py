"""Memory family: ``mem`` (virtual memory) and ``memswap`` (swap).

``mem.used`` is ``total - available`` as in Glances (psutil's own ``used`` leaves out
buffers and cache differently per platform).  ``percent_min``/``percent_max``/
``percent_mean`` are tracked since start; the mean is a running mean whose sample count
stops growing at :data:`MEAN_WINDOW`, so after that it follows the last ~16 hours (at a
2 s refresh) rather than freezing.  ``memswap`` carries ``time_since_update``, so it
waits for a second reading like the rate plugins do.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import psutil

from pipeline.samplers.base import SampleContext, SamplerSpec

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


def sample_memory(
    previous: MemoryState | None, ctx: SampleContext
) -> tuple[dict[str, Any], MemoryState]:
    now = time.monotonic()
    data: dict[str, Any] = {}
    state = MemoryState(ts=now)
    if "mem" in ctx.enabled:
        vm = psutil.virtual_memory()
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
        sw = psutil.swap_memory()
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
