"""Virtual machines (docs/plugins/vms.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.checks import Option, boolean
from pipeline.checks import number as check_number
from pipeline.plugins.descriptor import FieldInfo, PluginInfo

if TYPE_CHECKING:
    pass

F = FieldInfo


DESCRIPTORS = (
    PluginInfo(
        "vms",
        "list",
        "name",
        default_disable=True,
        absent="dict",
        fields={
            "name": F("Vm name.", ""),
            "id": F("Vm ID.", ""),
            "release": F("Vm release.", ""),
            "status": F("Vm status.", ""),
            "cpu_count": F("Vm CPU count.", ""),
            "cpu_time": F("Vm CPU time.", "percent", rate=True),
            "cpu_time_rate_per_sec": F("Vm CPU time per second.", "percent per second"),
            "cpu_time_gauge": F("Vm CPU time (cumulative).", "percent"),
            "memory_usage": F("Vm memory usage.", "byte"),
            "memory_total": F("Vm memory total.", "byte"),
            "load_1min": F("Vm Load last 1 min.", ""),
            "load_5min": F("Vm Load last 5 mins.", ""),
            "load_15min": F("Vm Load last 15 mins.", ""),
            "ipv4": F("Vm IP v4 address.", ""),
            "engine": F("VM engine name.", ""),
            "engine_version": F("VM engine version.", ""),
            "time_since_update": F("Number of seconds since last update.", "seconds"),
        },
        options={
            "all": Option(boolean, False),
            "max_name_size": Option(check_number(1, 1000, integer=True), 20),
            "command_timeout": Option(check_number(0.1, 600), 5.0),
        },
        sectioned=True,
    ),
)
