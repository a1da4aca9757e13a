"""Wi-Fi hotspots (docs/plugins/wifi.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.plugins.descriptor import FieldInfo, PluginInfo, cwc, decorate, fixed

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def wifi(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``quality_level`` in dBm, lower is worse: ``<= critical`` is CRITICAL, ...
    Limits ``wifi_<ssid>_*`` when the hotspot has any, else ``wifi_*``."""
    ssid = str(entry.get("ssid"))
    header = ssid if j.has_own_limits(j.stat_name(ssid)) else ""
    site = f"{ssid}\0quality_level"
    decoration = j.alert(site, entry.get("quality_level"), header=header, inverse=True)
    decorate(views, "quality_level", decoration)


DESCRIPTORS = (
    PluginInfo(
        "wifi",
        "list",
        "ssid",
        fields={
            "ssid": F("Wi-Fi network name.", ""),
            "quality_link": F("Signal quality level.", "dBm"),
            "quality_level": F("Signal strong level.", "dBm"),
        },
        limits=fixed(cwc("wifi", -65, -75, -85)),
        rule=wifi,
        sectioned=True,
    ),
)
