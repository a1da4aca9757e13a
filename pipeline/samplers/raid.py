"""The ``raid``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_raid(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"raid": PLUGINS["raid"].empty()}, None


SAMPLERS = [SamplerSpec("raid", ("raid",), sample_raid)]
