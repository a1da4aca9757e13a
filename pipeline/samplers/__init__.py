"""Sampler families: one module per family, each exposing a ``SamplerSpec``.

:func:`all_samplers` lists them for the composition root.
"""

from __future__ import annotations

from pipeline.runner import SamplerSpec


def all_samplers() -> list[SamplerSpec]:
    """Every sampler family statbus ships, covering every plugin in SAMPLED."""
    from pipeline.samplers import (  # noqa: F401 - filled in by the family modules
        amps,
        cloud,
        connections,
        containers,
        cpu,
        disk,
        folders,
        gpu,
        irq,
        memory,
        network,
        ports,
        processes,
        raid,
        sensors,
        smart,
        system,
        vms,
        wifi,
    )

    return [
        *cpu.SAMPLERS,
        *memory.SAMPLERS,
        *network.SAMPLERS,
        *disk.SAMPLERS,
        *processes.SAMPLERS,
        *sensors.SAMPLERS,
        *system.SAMPLERS,
        *amps.SAMPLERS,
        *cloud.SAMPLERS,
        *connections.SAMPLERS,
        *containers.SAMPLERS,
        *folders.SAMPLERS,
        *gpu.SAMPLERS,
        *irq.SAMPLERS,
        *ports.SAMPLERS,
        *raid.SAMPLERS,
        *smart.SAMPLERS,
        *vms.SAMPLERS,
        *wifi.SAMPLERS,
    ]
