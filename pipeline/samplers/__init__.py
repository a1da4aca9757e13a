"""Sampler families: one module per family, each exposing a ``SamplerSpec``.

:func:`all_samplers` lists them for the composition root.
"""

from __future__ import annotations

from pipeline.samplers.base import SamplerSpec


def all_samplers() -> list[SamplerSpec]:
    """Every sampler family statbus ships, covering every plugin in SAMPLED."""
    from pipeline.samplers import (  # noqa: F401 - filled in by the family modules
        cpu,
        disk,
        memory,
        network,
        processes,
        sensors,
        system,
    )

    return [
        *cpu.SAMPLERS,
        *memory.SAMPLERS,
        *network.SAMPLERS,
        *disk.SAMPLERS,
        *processes.SAMPLERS,
        *sensors.SAMPLERS,
        *system.SAMPLERS,
    ]
