"""Helpers for the sampler families; the contract they implement
(:class:`~pipeline.runner.SamplerSpec`, :class:`~pipeline.runner.SampleContext`) is the
runner's.

A sampler is a blocking, pure-ish function ``sample(previous, ctx) -> (data, state)``:

* ``previous`` is the ``state`` it returned last time (``None`` on the first call, and
  again after a failure if the sampler chose to return ``None`` as state);
* ``ctx`` carries the configuration and runtime options;
* ``data`` maps each plugin the sampler produces to its stats in the Glances v4 shape.
  A plugin missing from ``data`` is simply not published this round; samplers use that
  while *priming* (a rate needs two readings), and the runner then samples again soon.

Samplers run in worker threads and may be abandoned mid-call when they hang, so they
must not mutate ``previous``: they build a new state.  Rates follow the Glances v4
convention (see :func:`rate_fields`).
"""

from __future__ import annotations

from typing import Any


def rate_fields(
    out: dict[str, Any],
    name: str,
    current: int | float,
    previous: int | float | None,
    elapsed: float,
) -> None:
    """Set ``name``, ``name_gauge`` and ``name_rate_per_sec`` the Glances v4 way.

    ``name`` holds the delta since the previous reading, ``name_gauge`` the cumulative
    counter and ``name_rate_per_sec`` ``delta // elapsed`` (floor division: integral,
    typed float).  A counter that went backwards (reset, wrap) counts as a delta of 0.
    """
    delta = 0 if previous is None or current < previous else current - previous
    out[name] = delta
    out[f"{name}_gauge"] = current
    out[f"{name}_rate_per_sec"] = float(delta // elapsed) if elapsed > 0 else 0.0


def as_configured(value: float) -> int | float:
    """A configured number as the reference serves it: ``30.0`` as ``30`` (its INI
    values are integers when they can be), a fraction kept (``0.5``)."""
    return int(value) if float(value).is_integer() else value
