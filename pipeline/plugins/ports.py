"""Port and ICMP scans (docs/plugins/ports.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checks import Option, boolean, host, string, table_list
from pipeline.checks import number as check_number
from pipeline.plugins.descriptor import (
    CAREFUL,
    CRITICAL,
    OK,
    WARNING,
    FieldInfo,
    PluginInfo,
    decorate,
    number,
)

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo

PORT_TARGET = {
    "host": Option(host, ""),
    "port": Option(check_number(0, 65535, integer=True), 0),
    "description": Option(string(max_len=256), ""),
    "timeout": Option(check_number(0.1, 60), None),
    "rtt_warning": Option(check_number(0, 3_600_000), None),
}


def ports(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``status``: CRITICAL when False (refused or timed out), WARNING when a round-trip
    above the entry's ``rtt_warning`` (seconds), CAREFUL when None (not scanned yet, or no
    ``ping``), else OK; the most severe wins."""
    status, rtt_warning = entry.get("status"), number(entry.get("rtt_warning"))
    rtt = number(status)
    if status is False:
        level = CRITICAL
    elif rtt is not None and rtt_warning is not None and rtt > rtt_warning:
        level = WARNING
    elif status is None:
        level = CAREFUL
    else:
        level = OK
    stat = j.stat_name(f"{entry.get('indice')}_rtt")
    decorate(views, "status", j.record(stat, level, rtt or 0.0))


DESCRIPTORS = (
    PluginInfo(
        "ports",
        "list",
        "indice",
        refresh=30.0,
        fields={
            "host": F("Measurement is be done on this host (or IP address).", ""),
            "port": F("Measurement is be done on this port (0 for ICMP).", ""),
            "description": F("Human readable description for the host/port.", ""),
            "refresh": F("Refresh time (in seconds) for this host/port.", ""),
            "timeout": F("Timeout (in seconds) for the measurement.", ""),
            "status": F("Measurement result (in seconds).", "second"),
            "rtt_warning": F("Warning threshold (in seconds) for the measurement.", "second"),
            "indice": F("Unique indice for the host/port.", ""),
        },
        options={
            "port_default_gateway": Option(boolean, True),
            "scan_timeout": Option(check_number(0.1, 60), 3.0),
            "port": Option(table_list(PORT_TARGET, required=("host",)), ()),
        },
        rule=ports,
        sectioned=True,
        limits_always=frozenset({"port_default_gateway", "scan_timeout"}),
        limits_renamed={"scan_timeout": "timeout"},
        limits_tables=frozenset({"port"}),
        limits_refresh=True,
    ),
)
