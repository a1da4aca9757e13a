"""Sensors: temperatures, fan speeds and the battery, as the ``sensors`` list.

Each entry is ``{label, unit, value, warning, critical, type}`` with ``value`` an int:

* temperatures (``unit`` "C"): ``warning``/``critical`` are psutil's ``high``/``critical``;
  ``type`` is ``temperature_hdd`` for disk drivers (:data:`HDD_CHIPS`), else
  ``temperature_core``;
* fans (``unit`` "R", rpm): ``type`` ``fan_speed``;
* the battery (``unit`` "%", label "Battery"): ``type`` ``battery``.

A sensor without a label is named ``"<chip> <index>"``.  ``label`` is the list's key, so
a label seen twice gets a numeric suffix (``"Core 0 1"``) rather than hiding the other.
The ``hide``/``show`` and ``alias`` options are applied by the runner: a sensor is
matched on this label (and its alias), then an alias replaces the label
(docs/plugins/options.md).
Where psutil cannot read a kind of sensor (no such function, a VM without sensors, a
read error) that kind is simply absent; no sensor at all is ``[]``.

psutil finds sensors by globbing sysfs, which costs far more than listing the few
directories those globs start from: a kind whose directories are empty or absent (a VM,
a container) is not asked of psutil at all, since psutil would find nothing there
either (:func:`present`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import psutil

from pipeline.plugins.items import UniqueLabels
from pipeline.runner import SampleContext, SamplerSpec

log = logging.getLogger(__name__)

#: psutil temperature chips that are disks (reported as ``temperature_hdd``)
HDD_CHIPS = frozenset({"drivetemp", "nvme"})

LINUX = sys.platform.startswith("linux")
HWMON = "/sys/class/hwmon"
THERMAL = "/sys/class/thermal"
PLATFORM = "/sys/devices/platform"
POWER = "/sys/class/power_supply"


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def present(name: str) -> bool:
    """Whether ``psutil.<name>()`` could find anything: False only where every place its
    Linux implementation globs (``psutil/_pslinux.py``) is empty or absent.

    * ``sensors_temperatures``: ``/sys/class/hwmon/hwmon*/...``,
      ``/sys/devices/platform/coretemp.*/...``, ``/sys/class/thermal/thermal_zone*``;
    * ``sensors_fans``: ``/sys/class/hwmon/hwmon*/...``;
    * ``sensors_battery``: ``/sys/class/power_supply/`` entries named ``BAT*`` or
      ``*battery*``.
    """
    if not LINUX:
        return True
    if name == "sensors_temperatures":
        return bool(
            _listdir(HWMON)
            or any(n.startswith("thermal_zone") for n in _listdir(THERMAL))
            or any(n.startswith("coretemp.") for n in _listdir(PLATFORM))
        )
    if name == "sensors_fans":
        return bool(_listdir(HWMON))
    if name == "sensors_battery":
        return any(n.startswith("BAT") or "battery" in n.lower() for n in _listdir(POWER))
    return True


def _read(name: str) -> Any:
    """``psutil.<name>()``, or ``None`` when this platform or machine cannot tell."""
    if not present(name):
        return None
    fn: Callable[[], Any] | None = getattr(psutil, name, None)
    if fn is None:
        return None
    try:
        return fn()
    except (OSError, RuntimeError, ValueError, NotImplementedError) as exc:
        log.debug("psutil.%s failed: %s", name, exc)
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError, OverflowError):  # NaN, inf
        return None


def _chip_entries(
    readings: Any, unit: str, kind: Callable[[str], str], labels: UniqueLabels
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not isinstance(readings, dict):
        return out
    for chip, features in readings.items():
        for index, feature in enumerate(features):
            label = feature.label or f"{chip} {index}"
            out.append(
                {
                    "key": "label",
                    "label": labels.unique(label),
                    "unit": unit,
                    "value": _int(feature.current) or 0,
                    "warning": _int(getattr(feature, "high", None)),
                    "critical": _int(getattr(feature, "critical", None)),
                    "type": kind(chip),
                }
            )
    return out


def sample_sensors(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], None]:
    labels = UniqueLabels()
    entries = _chip_entries(
        _read("sensors_temperatures"),
        "C",
        lambda chip: "temperature_hdd" if chip in HDD_CHIPS else "temperature_core",
        labels,
    )
    entries += _chip_entries(_read("sensors_fans"), "R", lambda chip: "fan_speed", labels)
    battery = _read("sensors_battery")
    if battery is not None and _int(battery.percent) is not None:
        entries.append(
            {
                "key": "label",
                "label": labels.unique("Battery"),
                "unit": "%",
                "value": _int(battery.percent),
                "warning": None,
                "critical": None,
                "type": "battery",
            }
        )
    return {"sensors": entries}, None


SAMPLERS: list[SamplerSpec] = [SamplerSpec("sensors", ("sensors",), sample_sensors)]
