"""Software RAID arrays (docs/plugins/raid.md)."""

# ruff: noqa: E501 - descriptions are quoted whole from the specification

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.plugins.descriptor import (
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


def raid_level(array: Mapping[str, Any]) -> int | None:
    """The reference's raid alert (``None``: DEFAULT): raid0 OK, an inactive array
    CRITICAL, fewer devices used than the array has WARNING, else OK."""
    if array.get("type") == "raid0":
        return OK
    if array.get("status") == "inactive":
        return CRITICAL
    try:
        used, available = int(array["used"]), int(array["available"])
    except (KeyError, TypeError, ValueError):  # pymdstat gives digit strings, or None
        return None
    return WARNING if used < available else OK


def _raid(j: Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    """raid is a dict of arrays: each array gets ``{field: view}``, as a list entry does,
    and its ``used`` the reference's raid alert (stat ``raid_<array>``)."""
    for name, array in data.items():
        if not isinstance(array, dict):
            continue
        views[name] = j.item_views(array)
        level = raid_level(array)
        if level is not None:
            used = number(array.get("used"))
            decoration = j.record(j.stat_name(str(name)), level, used or 0.0)
            decorate(views[name], "used", decoration)


DESCRIPTORS = (
    PluginInfo(
        "raid",
        "dict",
        default_disable=True,
        fields={
            "status": F(
                "Array status: active, inactive, or broken (a raid0 or linear array missing a member).",
                "",
            ),
            "type": F(
                "Array personality: raid0, raid1, raid5, linear... (None for an inactive array).",
                "",
            ),
            "components": F("Member devices (dict of device name: role number in the array).", ""),
            "available": F(
                "Number of devices the array should have (None for raid0, linear and inactive arrays).",
                "number",
            ),
            "used": F(
                "Number of devices of the array that work (None for raid0, linear and inactive arrays).",
                "number",
            ),
            "config": F(
                "State of each device of the array: U up, _ down (None for raid0, linear and inactive arrays).",
                "",
            ),
        },
        rule=_raid,
        sectioned=True,
    ),
)
