"""The ``vms``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_vms(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"vms": PLUGINS["vms"].empty()}, None


SAMPLERS = [SamplerSpec("vms", ("vms",), sample_vms)]
