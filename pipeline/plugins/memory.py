"""The memory family: ``mem`` (RAM) and ``memswap`` (swap)."""

# ruff: noqa: E501 - descriptions are quoted whole from the specification

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.plugins.descriptor import FieldInfo, PluginInfo, cwc, decorate, fixed

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def _mem(j: Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    decoration = j.alert("percent", data.get("used"), maximum=data.get("total"), log=True)
    decorate(views, "percent", decoration)


DESCRIPTORS = (
    PluginInfo(
        "mem",
        "dict",
        fields={
            "total": F("Total physical memory available.", "bytes"),
            "available": F(
                "The actual amount of available memory that can be given instantly to processes that request more memory in bytes; this is calculated by summing different memory values depending on the platform (e.g. free + buffers + cached on Linux) and it is supposed to be used to monitor actual memory usage in a cross platform fashion.",
                "bytes",
            ),
            "percent": F(
                "The percentage usage calculated as (total - available) / total * 100.", "percent"
            ),
            "used": F(
                "Memory used, calculated differently depending on the platform and designed for informational purposes only.",
                "bytes",
            ),
            "free": F(
                "Memory not being used at all (zeroed) that is readily available; note that this doesn't reflect the actual memory available (use 'available' instead).",
                "bytes",
            ),
            "active": F(
                "*(UNIX)*: memory currently in use or very recently used, and so it is in RAM.",
                "bytes",
            ),
            "inactive": F("*(UNIX)*: memory that is marked as not used.", "bytes"),
            "buffers": F("*(Linux, BSD)*: cache for things like file system metadata.", "bytes"),
            "cached": F("*(Linux, BSD)*: cache for various things.", "bytes"),
            "wired": F(
                "*(BSD, macOS)*: memory that is marked to always stay in RAM. It is never moved to disk.",
                "bytes",
            ),
            "shared": F(
                "*(BSD)*: memory that may be simultaneously accessed by multiple processes.",
                "bytes",
            ),
            "percent_min": F("Lowest memory usage since statbus started.", "percent"),
            "percent_max": F("Highest memory usage since statbus started.", "percent"),
            "percent_mean": F(
                "Mean memory usage since statbus started (over the last 28800 samples at most).",
                "percent",
            ),
        },
        limits=fixed(cwc("mem", 50, 70, 90)),
        rule=_mem,
        optional_views=frozenset({"active", "inactive", "buffers", "cached"}),
        sectioned=True,
        history=("percent",),
    ),
    PluginInfo(
        "memswap",
        "dict",
        fields={
            "total": F("Total swap memory.", "bytes"),
            "used": F("Used swap memory.", "bytes"),
            "free": F("Free swap memory.", "bytes"),
            "percent": F("Used swap memory in percentage.", "percent"),
            "sin": F(
                "The number of bytes the system has swapped in from disk (cumulative).", "bytes"
            ),
            "sout": F(
                "The number of bytes the system has swapped out from disk (cumulative).", "bytes"
            ),
            "time_since_update": F("Number of seconds since last update.", "seconds"),
        },
        limits=fixed(cwc("memswap", 50, 70, 90)),
        rule=_mem,
        sectioned=True,
        history=("percent",),
    ),
)
