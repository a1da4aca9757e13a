"""The ``gpu``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_gpu(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"gpu": PLUGINS["gpu"].empty()}, None


SAMPLERS = [SamplerSpec("gpu", ("gpu",), sample_gpu)]
