"""Watched folders and their sizes (docs/plugins/folders.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checks import Option, absolute_path, table_list
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

FOLDER = {
    "path": Option(absolute_path, ""),
    "careful": Option(check_number(0, 1e12), None),
    "warning": Option(check_number(0, 1e12), None),
    "critical": Option(check_number(0, 1e12), None),
    "refresh": Option(check_number(1, 86400), 60.0),
    "timeout": Option(check_number(0.1, 3600), 10.0),
}


def folders(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``size``: ERROR when ``errno`` is not 0, else the highest of the folder's own
    ``critical``/``warning``/``careful`` (MB) that ``size`` exceeds (strictly, bytes >
    int(MB) × 1 000 000), else OK, a folder without thresholds included."""
    if entry.get("errno"):
        decorate(views, "size", "ERROR")  # not a level: recorded nowhere
        return
    size = number(entry.get("size"))
    if size is None:
        return
    level = OK
    for rank, name in ((CRITICAL, "critical"), (WARNING, "warning"), (CAREFUL, "careful")):
        limit = number(entry.get(name))
        if limit is not None and size > int(limit) * 1_000_000:
            level = rank
            break
    stat = j.stat_name(str(entry.get("path")))
    decorate(views, "size", j.record(stat, level, size / 1_000_000))


DESCRIPTORS = (
    PluginInfo(
        "folders",
        "list",
        "path",
        refresh=10.0,
        fields={
            "path": F("Absolute path.", ""),
            "size": F("Folder size in bytes.", "byte"),
            "refresh": F("Refresh interval in seconds.", "second"),
            "errno": F("Return code when retrieving folder size (0 is no error).", "number"),
            "careful": F("Careful threshold in MB.", "megabyte"),
            "warning": F("Warning threshold in MB.", "megabyte"),
            "critical": F("Critical threshold in MB.", "megabyte"),
        },
        options={"folder": Option(table_list(FOLDER, required=("path",)), ())},
        rule=folders,
        sectioned=True,
        limits_tables=frozenset({"folder"}),
    ),
)
