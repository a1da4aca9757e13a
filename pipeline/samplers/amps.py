"""The ``amps``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_amps(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"amps": PLUGINS["amps"].empty()}, None


SAMPLERS = [SamplerSpec("amps", ("amps",), sample_amps)]
