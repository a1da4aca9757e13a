"""Interrupts (docs/plugins/irq.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.plugins.descriptor import FieldInfo, PluginInfo

if TYPE_CHECKING:
    pass

F = FieldInfo


DESCRIPTORS = (
    PluginInfo(
        "irq",
        "list",
        "irq_line",
        default_disable=True,
        fields={
            "irq_line": F("IRQ line name.", ""),
            "irq_rate": F("IRQ rate per second.", "numberpersecond"),
            "time_since_update": F("Number of seconds since last update.", "seconds"),
        },
        sectioned=True,
    ),
)
