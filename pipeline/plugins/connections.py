"""TCP connection states and conntrack (docs/plugins/connections.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.plugins.descriptor import FieldInfo, PluginInfo, cwc, decorate, fixed

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def connections(j: Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    """``nf_conntrack_percent`` judged on its value (the reference always answers OK)."""
    if "nf_conntrack_percent" in data:
        field = "nf_conntrack_percent"
        decorate(views, field, j.alert(field, data[field], header=field))


DESCRIPTORS = (
    PluginInfo(
        "connections",
        "dict",
        default_disable=True,
        fields={
            "LISTEN": F("Number of TCP connections in LISTEN state.", "number"),
            "ESTABLISHED": F("Number of TCP connections in ESTABLISHED state.", "number"),
            "SYN_SENT": F("Number of TCP connections in SYN_SENT state.", "number"),
            "SYN_RECV": F("Number of TCP connections in SYN_RECV state.", "number"),
            "initiated": F("Number of TCP connections initiated.", "number"),
            "terminated": F("Number of TCP connections terminated.", "number"),
            "nf_conntrack_count": F("Number of tracked connections.", "number"),
            "nf_conntrack_max": F("Maximum number of tracked connections.", "number"),
            "nf_conntrack_percent": F("Percentage of tracked connections.", "percent"),
            "net_connections_enabled": F(
                "Whether the TCP connection states could be read.", "bool"
            ),
            "nf_conntrack_enabled": F(
                "Whether the netfilter conntrack counts could be read.", "bool"
            ),
        },
        limits=fixed(cwc("connections_nf_conntrack_percent", 70, 80, 90)),
        rule=connections,
        sectioned=True,
    ),
)
