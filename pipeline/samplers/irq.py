"""The ``irq``  plugin (being written: it answers its empty value)."""

from __future__ import annotations

from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.samplers.base import SampleContext, SamplerSpec


def sample_irq(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    return {"irq": PLUGINS["irq"].empty()}, None


SAMPLERS = [SamplerSpec("irq", ("irq",), sample_irq)]
