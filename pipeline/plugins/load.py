"""The load family: ``load`` (load averages) and ``core`` (the CPU counts)."""

# ruff: noqa: E501 - descriptions are quoted whole from the specification

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.plugins.descriptor import FieldInfo, PluginInfo, cwc, decorate, fixed

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def _load(j: Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    # min15 then min5: both are the stat "load", so its level is min5's (as the reference)
    if "min15" in data:
        decorate(views, "min15", j.alert("min15", data["min15"], maximum=100 * cpucore, log=True))
    if "min5" in data:
        decorate(views, "min5", j.alert("min5", data["min5"], maximum=100 * cpucore))


DESCRIPTORS = (
    PluginInfo(
        "load",
        "dict",
        fields={
            "min1": F(
                "Average sum of the number of processes waiting in the run-queue plus the number currently executing over 1 minute.",
                "float",
            ),
            "min5": F(
                "Average sum of the number of processes waiting in the run-queue plus the number currently executing over 5 minutes.",
                "float",
            ),
            "min15": F(
                "Average sum of the number of processes waiting in the run-queue plus the number currently executing over 15 minutes.",
                "float",
            ),
            "cpucore": F("Total number of CPU core.", "number"),
        },
        limits=fixed(cwc("load", 0.7, 1.0, 5.0)),
        rule=_load,
        sectioned=True,
        history=("min1", "min5", "min15"),
    ),
    PluginInfo(
        "core",
        "dict",
        fields={
            "phys": F("Number of physical cores (hyper thread CPUs are excluded).", "number"),
            "log": F(
                "Number of logical CPU cores. A logical CPU is the number of physical cores multiplied by the number of threads that can run on each core.",
                "number",
            ),
        },
    ),
)
