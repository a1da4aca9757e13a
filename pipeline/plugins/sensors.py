"""Temperatures, fans and batteries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.plugins.descriptor import Entry, FieldInfo, PluginInfo, cwc, decorate, fixed

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def _alias_names(entry: Entry) -> tuple[str, ...]:
    """A sensor's alias is looked up by its label, then ``<label>_<type>``
    (``"Core 0_temperature_core"``), as the reference's sensors plugin does."""
    label = str(entry.get("label", ""))
    return label, f"{label}_{entry.get('type')}"


def _sensors(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    value = entry.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value:
        return
    kind, label = str(entry.get("type")), str(entry.get("label"))
    current = 100 - value if kind == "battery" else value  # battery: judged on what is used
    site = f"{label}\0value"
    if j.has_own_limits(j.stat_name(f"{kind}_{label}")):
        decoration = j.alert(site, current, header=f"{kind}_{label}")
    else:
        decoration = j.alert(site, current, header=kind)
    if decoration == "DEFAULT" and kind.startswith("temperature"):
        decoration = system_limits(value, entry.get("warning"), entry.get("critical"))
    decorate(views, "value", decoration)


def system_limits(value: float, warning: Any, critical: Any) -> str:
    """A sensor's own high (warning) and critical temperatures, as psutil reports them."""
    if isinstance(critical, int | float) and critical and value >= critical:
        return "CRITICAL"
    if isinstance(warning, int | float) and warning and value >= warning:
        return "WARNING"
    return "OK" if critical or warning else "DEFAULT"


DESCRIPTORS = (
    PluginInfo(
        "sensors",
        "list",
        "label",
        refresh=10.0,
        fields={
            "label": F("Sensor label.", ""),
            "unit": F("Sensor unit.", ""),
            "value": F("Sensor value.", "number"),
            "warning": F("Warning threshold.", "number"),
            "critical": F("Critical threshold.", "number"),
            "type": F("Sensor type (one of battery, temperature_core, fan_speed).", ""),
        },
        limits=fixed(
            {
                **cwc("sensors_temperature_hdd", 45, 52, 60),
                **cwc("sensors_battery", 70, 80, 90),
            }
        ),
        rule=_sensors,
        sectioned=True,
        alias_field="label",
        alias_names=_alias_names,
    ),
)
