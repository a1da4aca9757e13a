"""Helpers shared by the sampler tests: a context and a two-round sample."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from pipeline.config import Config, from_mapping
from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SampleFn

#: between the two readings of a rate: long enough for counters to move
PAUSE = 0.2


#: the built-in configuration with nothing that leaves the machine: the cloud metadata
#: URL on a loopback port nothing listens on, and no default-gateway ping
LOOPBACK_ONLY = {
    "cloud": {"url": "http://127.0.0.1:9"},
    "ports": {"port_default_gateway": False},
}


def loopback_config() -> Config:
    return from_mapping(LOOPBACK_ONLY)


def context(
    plugins: Iterable[str] | None = None,
    *,
    extended_pid: int | None = None,
    config: Config | None = None,
) -> SampleContext:
    enabled = frozenset(PLUGINS if plugins is None else plugins)
    return SampleContext(config or loopback_config(), enabled, extended_pid)


def two_rounds(
    sample: SampleFn, ctx: SampleContext, pause: float = PAUSE
) -> tuple[dict[str, Any], Any, dict[str, Any], Any]:
    """``(first data, first state, second data, second state)``, ``pause`` s apart."""
    first, state1 = sample(None, ctx)
    time.sleep(pause)
    second, state2 = sample(state1, ctx)
    return first, state1, second, state2


def check_rate(entry: dict[str, Any], name: str, previous_gauge: int | float | None) -> None:
    """The Glances v4 rate triple of ``name`` is consistent."""
    gauge, delta, rate = entry[f"{name}_gauge"], entry[name], entry[f"{name}_rate_per_sec"]
    elapsed = entry["time_since_update"]
    assert elapsed > 0
    assert isinstance(rate, float)
    assert delta >= 0
    if previous_gauge is not None and gauge >= previous_gauge:
        assert delta == gauge - previous_gauge
    assert rate == float(delta // elapsed)
