"""The ``irq`` plugin: the five busiest interrupt lines of ``/proc/interrupts``.

Each entry is ``{"irq_line", "irq_rate", "time_since_update", "key": "irq_line"}``, the
five highest ``irq_rate`` first (ties in the file's order), as the reference's top 5.

* ``irq_line`` is the first column without its colon; a numeric IRQ gets ``_`` and the
  line's last column (its device) appended: ``36_virtio1-req.0``, ``LOC``, ``ERR``.
* A line's count is the sum of its per-CPU columns (as many as the header has CPUs);
  a line with fewer numbers (``ERR:``/``MIS:`` have one) sums what it has, and one with
  none (a Raspberry Pi's ``FIQ:  usb_fiq``) counts 0.
* ``irq_rate`` is ``delta // elapsed`` as an int, per second; a count that went down
  (a reset) and a line seen for the first time count 0.

The first call only primes the counts (``irq`` is absent from its data); the runner
samples again soon.  Without ``/proc/interrupts`` (an OpenVZ container) the plugin is
``[]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from time import monotonic
from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs

#: how many lines the plugin publishes
TOP = 5


@dataclass(frozen=True, slots=True)
class IrqState:
    ts: float
    #: line name -> its count summed over the CPUs, at ``ts``
    counts: Mapping[str, int]


def parse_interrupts(data: bytes) -> dict[str, int]:
    """``{line name: count summed over the CPUs}`` from ``/proc/interrupts``, in the
    file's order.  A line without a colon is skipped."""
    lines = data.decode("ascii", errors="replace").split("\n")
    ncpu = len(lines[0].split())
    out: dict[str, int] = {}
    for line in lines[1:]:
        cols = line.split()
        if not cols or not cols[0].endswith(":"):
            continue
        name = cols[0][:-1]
        if name.isdigit() and len(cols) > 1:
            name = f"{name}_{cols[-1]}"
        total = 0
        for col in cols[1 : ncpu + 1]:
            if not col.isdigit():
                break
            total += int(col)
        out[name] = total
    return out


def sample_irq(
    previous: IrqState | None, ctx: SampleContext
) -> tuple[dict[str, Any], IrqState | None]:
    now = monotonic()
    try:
        data = procfs.proc("interrupts")
    except OSError:  # absent, or unreadable here (a restricted /proc): nothing to report
        return {"irq": PLUGINS["irq"].empty()}, None
    state = IrqState(now, parse_interrupts(data))
    if previous is None:
        return {}, state
    elapsed = now - previous.ts
    entries: list[dict[str, Any]] = []
    for name, count in state.counts.items():
        before = previous.counts.get(name)
        delta = 0 if before is None or count < before else count - before
        entries.append(
            {
                "irq_line": name,
                "irq_rate": int(delta // elapsed) if elapsed > 0 else 0,
                "time_since_update": elapsed,
                "key": "irq_line",
            }
        )
    entries.sort(key=lambda e: e["irq_rate"], reverse=True)  # stable: ties keep file order
    return {"irq": entries[:TOP]}, state


SAMPLERS = [SamplerSpec("irq", ("irq",), sample_irq)]
