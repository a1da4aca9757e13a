"""The ``ports``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_ports(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"ports": PLUGINS["ports"].empty()}, None


SAMPLERS = [SamplerSpec("ports", ("ports",), sample_ports)]
