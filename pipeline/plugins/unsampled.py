"""The plugins no sampler produces: ``alert`` (the alert stage keeps it) and ``help``
(served as ``null``, as the spec shows it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.plugins.descriptor import FieldInfo, PluginInfo

if TYPE_CHECKING:
    pass

F = FieldInfo


DESCRIPTORS = (
    PluginInfo(
        "alert",
        "list",
        sampled=False,
        fields={
            "begin": F("Begin timestamp of the event.", "timestamp"),
            "end": F("End timestamp of the event (or -1 if ongoing).", "timestamp"),
            "state": F("State of the event (WARNING|CRITICAL).", "string"),
            "type": F("Type of the event (CPU|LOAD|MEM).", "string"),
            "max": F("Maximum value during the event period.", "float"),
            "avg": F("Average value during the event period.", "float"),
            "min": F("Minimum value during the event period.", "float"),
            "sum": F("Sum of the values during the event period.", "float"),
            "count": F("Number of values during the event period.", "int"),
            "top": F("Top 3 processes name during the event period.", "list"),
            "desc": F("Description of the event.", "string"),
            "sort": F("Sort key of the top processes.", "string"),
            "global_msg": F("Global alert message.", "string"),
        },
    ),
    PluginInfo("help", "none", sampled=False),
)
