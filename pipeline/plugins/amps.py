"""Application monitors (docs/plugins/amps.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checks import Option, boolean, command, regex_or_list, string, table_list
from pipeline.checks import number as check_number
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

AMP = {
    "name": Option(string(max_len=256), ""),
    "regex": Option(regex_or_list, ""),  # required: a list of regexes, or one
    "refresh": Option(check_number(1, 86400), 3.0),
    "countmin": Option(check_number(0, 1e9, integer=True), None),
    "countmax": Option(check_number(0, 1e9, integer=True), None),
    "command": Option(command, ()),
    "command_timeout": Option(check_number(0.1, 600), 5.0),
    "one_line": Option(boolean, True),
}


def amps_level(count: Any, countmin: Any, countmax: Any) -> int:
    """The reference's AMP alert: a count within [countmin, countmax] is OK (a missing
    bound is the count itself), outside WARNING; no process at all is OK only when
    countmin is 0 (or unset), else CRITICAL."""
    if number(count) is None:
        return OK
    count = int(count)
    low = count if number(countmin) is None else int(countmin)
    high = count if number(countmax) is None else int(countmax)
    if count > 0:
        return OK if low <= count <= high else WARNING
    return OK if low == 0 else CRITICAL


def amps(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    count = entry.get("count")
    level = amps_level(count, entry.get("countmin"), entry.get("countmax"))
    stat = j.stat_name(str(entry.get("name")))
    decorate(views, "count", j.record(stat, level, number(count) or 0.0))


DESCRIPTORS = (
    PluginInfo(
        "amps",
        "list",
        "name",
        fields={
            "name": F("AMP name.", ""),
            "result": F("AMP result (a string).", ""),
            "refresh": F("AMP refresh interval.", "second"),
            "timer": F("Time until next refresh.", "second"),
            "count": F("Number of matching processes.", "number"),
            "countmin": F("Minimum number of matching processes.", "number"),
            "countmax": F("Maximum number of matching processes.", "number"),
        },
        options={"amp": Option(table_list(AMP, required=("name", "regex")), ())},
        rule=amps,
        sectioned=True,
        limits_tables=frozenset({"amp"}),
    ),
)
