"""The system family: ``system``, ``uptime``, ``now``, ``version`` and ``psutilversion``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.plugins.descriptor import FieldInfo, PluginInfo

if TYPE_CHECKING:
    pass

F = FieldInfo


DESCRIPTORS = (
    PluginInfo(
        "system",
        "dict",
        refresh=60.0,
        fields={
            "os_name": F("Operating system name.", ""),
            "hostname": F("Hostname.", ""),
            "platform": F("Platform (32 or 64 bits).", ""),
            "linux_distro": F("Linux distribution.", ""),
            "os_version": F("Operating system version.", ""),
            "hr_name": F("Human readable operating system name.", ""),
        },
        sectioned=True,
    ),
    PluginInfo("uptime", "value"),
    PluginInfo(
        "now",
        "dict",
        fields={
            "custom": F("Current date in custom format.", ""),
            "iso": F("Current date in ISO 8601 format.", ""),
        },
    ),
    PluginInfo("version", "value", refresh=3600.0),
    PluginInfo("psutilversion", "value", refresh=3600.0),
)
