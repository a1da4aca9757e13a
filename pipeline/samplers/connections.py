"""The ``connections``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_connections(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"connections": PLUGINS["connections"].empty()}, None


SAMPLERS = [SamplerSpec("connections", ("connections",), sample_connections)]
