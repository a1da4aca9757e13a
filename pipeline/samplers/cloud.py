"""The ``cloud``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_cloud(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"cloud": PLUGINS["cloud"].empty()}, None


SAMPLERS = [SamplerSpec("cloud", ("cloud",), sample_cloud)]
