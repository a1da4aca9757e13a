"""The ``wifi``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_wifi(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"wifi": PLUGINS["wifi"].empty()}, None


SAMPLERS = [SamplerSpec("wifi", ("wifi",), sample_wifi)]
