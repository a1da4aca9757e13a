"""The ``smart``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_smart(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"smart": PLUGINS["smart"].empty()}, None


SAMPLERS = [SamplerSpec("smart", ("smart",), sample_smart)]
