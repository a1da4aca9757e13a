"""``programlist``: the ``processlist`` entries grouped by process name, and the sort.

One program per name, in the Glances v4 shape::

    {"name", "childrens": [pids], "nprocs", "pid": "_", "cmdline": [name],
     "cpu_percent", "memory_percent", "num_threads",       summed
     "memory_info", "cpu_times",                            summed key by key
     "io_counters",                                         summed element-wise
     "username", "nice", "status", "gids",                  shared value, else "_"
     "time_since_update"}

Where the reference concatenates the members' ``io_counters`` lists (a side effect of
``list + list``), statbus sums them element-wise, so the list keeps its documented
five-element ``[read, write, read_prev, write_prev, tag]`` meaning for the whole
program (``tag`` is 1 when any member has a previous reading).  ``gids``, documented for
programlist in the spec but absent from the reference's output, follows the rule of
``username``.
"""

from __future__ import annotations

from typing import Any

#: fields a program shows when all its processes agree on them, else "_"
SHARED_FIELDS = ("username", "nice", "status", "gids")


def sort_processes(entries: list[dict[str, Any]]) -> None:
    """Sort in place by ``cpu_percent`` then ``memory_percent``, both descending (the
    reference's "auto" sort)."""
    entries.sort(key=lambda e: (e["cpu_percent"] or 0.0, e["memory_percent"] or 0.0), reverse=True)


def _summed(total: dict[str, Any], part: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(total)
    for key, value in (part or {}).items():
        if value is not None:
            out[key] = out.get(key, 0) + value
    return out


def group_programs(processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group ``processlist`` entries by name; the result is sorted like processlist.

    A program of one process shares that entry's nested dicts (nothing mutates them:
    the data is encoded as soon as it is published); sums are built in new ones."""
    programs: dict[str, dict[str, Any]] = {}
    for p in processes:
        name = p["name"]
        prog = programs.get(name)
        if prog is None:
            programs[name] = {
                "name": name,
                "childrens": [p["pid"]],
                "nprocs": 1,
                "pid": "_",
                "cmdline": [name],
                "cpu_percent": p["cpu_percent"] or 0.0,
                "memory_percent": p["memory_percent"] or 0.0,
                "num_threads": p["num_threads"] or 0,
                "memory_info": p["memory_info"] or {},
                "cpu_times": p["cpu_times"] or {},
                "io_counters": list(p["io_counters"]),
                "username": p["username"],
                "nice": p["nice"],
                "status": p["status"],
                "gids": p["gids"],
                "time_since_update": p["time_since_update"],
            }
            continue
        prog["childrens"].append(p["pid"])
        prog["nprocs"] += 1
        prog["cpu_percent"] = round(prog["cpu_percent"] + (p["cpu_percent"] or 0.0), 1)
        prog["memory_percent"] += p["memory_percent"] or 0.0
        prog["num_threads"] += p["num_threads"] or 0
        prog["memory_info"] = _summed(prog["memory_info"], p["memory_info"])
        prog["cpu_times"] = _summed(prog["cpu_times"], p["cpu_times"])
        io, sums = p["io_counters"], prog["io_counters"]
        for i in range(4):
            sums[i] += io[i]
        sums[4] = max(sums[4], io[4])
        for shared in SHARED_FIELDS:
            if prog[shared] != p[shared]:
                prog[shared] = "_"
    out = list(programs.values())
    sort_processes(out)
    return out
