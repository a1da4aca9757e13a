"""The network family: ``network`` (interfaces) and ``ip`` (addresses)."""

# ruff: noqa: E501 - descriptions are quoted whole from the specification

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checks import Option, boolean
from pipeline.checks import number as check_number
from pipeline.plugins.descriptor import FieldInfo, PluginInfo, cwc, decorate, fixed, rate_per_sec

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def _network(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    if not entry.get("time_since_update"):
        return  # no time span to measure a rate over
    name = str(entry.get("interface_name")).split(":")[0]
    speed = entry.get("speed")
    for way, field in (("rx", "bytes_recv"), ("tx", "bytes_sent")):
        rate = rate_per_sec(entry, field)
        if rate is None:
            continue
        bps = int(rate * 8)
        site = f"{name}\0{way}"
        decoration = j.alert(site, bps, header=f"{name}_{way}")  # absolute, per interface
        if decoration == "DEFAULT" and speed:  # else a percent of the link speed
            decoration = j.alert(site, bps, maximum=speed, header=way)
        # The reference gives bytes_sent_rate_per_sec the rx decoration; statbus does not.
        decorate(views, field, decoration)
        decorate(views, f"{field}_rate_per_sec", decoration)


DESCRIPTORS = (
    PluginInfo(
        "network",
        "list",
        "interface_name",
        fields={
            "interface_name": F("Interface name.", ""),
            "alias": F("Interface alias name (optional).", ""),
            "bytes_recv": F("Number of bytes received.", "byte", rate=True),
            "bytes_recv_rate_per_sec": F("Number of bytes received per second.", "byte per second"),
            "bytes_recv_gauge": F("Number of bytes received (cumulative).", "byte"),
            "bytes_sent": F("Number of bytes sent.", "byte", rate=True),
            "bytes_sent_rate_per_sec": F("Number of bytes sent per second.", "byte per second"),
            "bytes_sent_gauge": F("Number of bytes sent (cumulative).", "byte"),
            "bytes_all": F("Number of bytes received and sent.", "byte", rate=True),
            "bytes_all_rate_per_sec": F(
                "Number of bytes received and sent per second.", "byte per second"
            ),
            "bytes_all_gauge": F("Number of bytes received and sent (cumulative).", "byte"),
            "speed": F(
                "Maximum interface speed (in bit per second). Can return 0 on some operating-system.",
                "bitpersecond",
            ),
            "is_up": F("Is the interface up ?.", "bool"),
            "time_since_update": F("Number of seconds since last update.", "seconds"),
        },
        options={
            # on, as the reference ships them (the spec's /all/limits shows them so)
            "hide_no_up": Option(boolean, True),
            "hide_no_ip": Option(boolean, True),
            "hide_zero": Option(boolean, False),
            "hide_threshold_bytes": Option(check_number(0, 1e15, integer=True), 0),
        },
        limits=fixed({**cwc("network_rx", 70, 80, 90), **cwc("network_tx", 70, 80, 90)}),
        rule=_network,
        optional_views=frozenset({"alias"}),
        hide_zero_fields=("bytes_recv_rate_per_sec", "bytes_sent_rate_per_sec"),
        sectioned=True,
        limits_always=frozenset({"hide_zero", "hide_no_up", "hide_no_ip"}),
        history=("bytes_recv_rate_per_sec", "bytes_sent_rate_per_sec"),
        alias_field="alias",
    ),
    PluginInfo(
        "ip",
        "dict",
        refresh=60.0,
        fields={
            "address": F("Private IP address.", ""),
            "mask": F("Private IP mask.", ""),
            "mask_cidr": F("Private IP mask in CIDR format.", "number"),
            "gateway": F("Private IP gateway.", ""),
            "public_address": F("Public IP address.", ""),
            "public_info_human": F("Public IP information.", ""),
        },
        sectioned=True,
        limits_fixed={"ip_public_disabled": ["True"]},
    ),
)
