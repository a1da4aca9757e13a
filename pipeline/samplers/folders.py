"""The ``folders``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_folders(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"folders": PLUGINS["folders"].empty()}, None


SAMPLERS = [SamplerSpec("folders", ("folders",), sample_folders)]
