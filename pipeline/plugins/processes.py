"""The processes family: ``processcount``, and the two lists sampled on demand,
``processlist`` and ``programlist``."""

# ruff: noqa: E501 - descriptions are quoted whole from the specification

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.checks import Option, int_list, string, string_list
from pipeline.plugins.descriptor import FieldInfo, PluginInfo, cwc, decorate, fixed

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo

_PROCESS_FIELDS: dict[str, FieldInfo] = {
    "pid": F("Process identifier (ID).", "number"),
    "name": F("Process name.", "string"),
    "cmdline": F("Command line with arguments.", "list"),
    "username": F("Process owner.", "string"),
    "num_threads": F("Number of threads.", "number"),
    "cpu_percent": F("Process CPU consumption.", "percent"),
    "memory_percent": F("Process memory consumption.", "percent"),
    "memory_info": F(
        "Process memory information (dict with rss, vms, shared, text, lib, data, dirty keys).",
        "byte",
    ),
    "status": F("Process status.", "string"),
    "nice": F("Process nice value.", "number"),
    "cpu_times": F("Process CPU times (dict with user, system, iowait keys).", "second"),
    "gids": F("Process group IDs (dict with real, effective, saved keys).", "number"),
    "io_counters": F(
        "Process IO counters (list with read_count, write_count, read_bytes, write_bytes, io_tag keys).",
        "byte",
    ),
}

_NICE_WARNING = tuple(n for n in range(-20, 20) if n != 0)

_SORT_KEYS = (
    "auto",
    "cpu_percent",
    "memory_percent",
    "username",
    "name",
    "io_counters",
    "cpu_times",
)

_LEVELS = ("ok", "careful", "warning", "critical")

_LIST_LEVELS = ("critical", "warning", "careful", "ok")


def _listed(limits: Mapping[str, Any], option: str, value: str) -> str | None:
    for level in _LIST_LEVELS:
        listed = limits.get(f"processlist_{option}_{level}")
        if isinstance(listed, tuple | list) and value in (str(v) for v in listed):
            return level.upper()
    return None


def processlist(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``nice`` by the ``nice_<level>`` lists, ``status`` by the ``status_<level>`` lists,
    the most severe listing winning, as the reference's process list shows them; a
    value in no list is DEFAULT, except status ``R`` (OK)."""
    if "nice" in entry and entry["nice"] is not None:
        decorate(views, "nice", _listed(j.limits, "nice", str(entry["nice"])) or "DEFAULT")
    if "status" in entry and entry["status"] is not None:
        status = str(entry["status"])
        fallback = "OK" if status == "R" else "DEFAULT"
        decorate(views, "status", _listed(j.limits, "status", status) or fallback)


DESCRIPTORS = (
    PluginInfo(
        "processcount",
        "dict",
        fields={
            "total": F("Total number of processes.", "number"),
            "running": F("Total number of running processes.", "number"),
            "sleeping": F("Total number of sleeping processes.", "number"),
            "thread": F("Total number of threads.", "number"),
            "pid_max": F("Maximum number of processes.", "number"),
        },
        sectioned=True,
        history=("total", "running", "sleeping", "thread"),
    ),
    PluginInfo(
        "processlist",
        "list",
        "pid",
        fields={
            **_PROCESS_FIELDS,
            "time_since_update": F("Number of seconds since last update.", "seconds"),
            "extended_stats": F("True on the process whose extended stats were requested.", "bool"),
            "cpu_affinity": F("CPUs the process may run on (extended stats).", "list"),
            "ionice": F("I/O scheduling class and priority (extended stats).", "list"),
            "num_ctx_switches": F(
                "Voluntary and involuntary context switches (extended stats).", "number"
            ),
            "num_fds": F("Number of open file descriptors (extended stats).", "number"),
            "memory_swap": F("Memory swapped out (extended stats).", "byte"),
            "tcp": F("Number of TCP connections (extended stats).", "number"),
            "udp": F("Number of UDP sockets (extended stats).", "number"),
        },
        options={
            "sort_key": Option(string(choices=_SORT_KEYS), "auto"),
            **{
                f"nice_{lvl}": Option(int_list, _NICE_WARNING if lvl == "warning" else ())
                for lvl in _LEVELS
            },
            **{
                f"status_{lvl}": Option(
                    string_list,
                    {"ok": ("R", "W", "P", "I"), "critical": ("Z", "D")}.get(lvl, ()),
                )
                for lvl in _LEVELS
            },
        },
        limits=fixed(
            {
                **cwc("processlist_cpu", 50, 70, 90),
                **cwc("processlist_mem", 50, 70, 90),
            }
        ),
        rule=processlist,
        display_only=True,
        sectioned=True,
        limits_always=frozenset(f"{o}_{lvl}" for o in ("nice", "status") for lvl in _LIST_LEVELS),
        on_demand=True,
    ),
    PluginInfo(
        "programlist",
        "list",
        "name",
        fields={
            **_PROCESS_FIELDS,
            "childrens": F("Process identifiers of the program's processes.", "list"),
            "nprocs": F("Number of processes of the program.", "number"),
            "time_since_update": F("Number of seconds since last update.", "seconds"),
        },
        on_demand=True,
    ),
)
