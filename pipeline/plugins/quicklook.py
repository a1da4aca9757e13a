"""Quick look: the bars of cpu, memory, swap and load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checks import Option, choice_list
from pipeline.plugins.descriptor import FieldInfo, PluginInfo, cwc, decorate, fixed

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def _quicklook(j: Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    for field in ("cpu", "mem", "swap", "load"):
        if field in data:
            decorate(views, field, j.alert(field, data[field], header=field))
    views["list"] = list(j.limits.get("quicklook_list", ("cpu", "mem", "load")))


DESCRIPTORS = (
    PluginInfo(
        "quicklook",
        "dict",
        fields={
            "cpu": F("CPU percent usage.", "percent"),
            "mem": F("MEM percent usage.", "percent"),
            "swap": F("SWAP percent usage.", "percent"),
            "load": F("LOAD percent usage.", "percent"),
            "cpu_log_core": F("Number of logical CPU core.", "number"),
            "cpu_phys_core": F("Number of physical CPU core.", "number"),
            "cpu_name": F("CPU name.", ""),
            "cpu_hz_current": F("CPU current frequency.", "hertz"),
            "cpu_hz": F("CPU max frequency.", "hertz"),
            "percpu": F("Per-CPU usage (list, as the percpu plugin).", "list"),
        },
        options={
            "list": Option(choice_list(("cpu", "mem", "swap", "load")), ("cpu", "mem", "load"))
        },
        limits=fixed(
            {
                **cwc("quicklook_cpu", 50, 70, 90),
                **cwc("quicklook_mem", 50, 70, 90),
                **cwc("quicklook_swap", 50, 70, 90),
                **cwc("quicklook_load", 70, 100, 500),
            }
        ),
        rule=_quicklook,
        sectioned=True,
        limits_always=frozenset({"list"}),
        limits_fixed={"quicklook_bar_char": ["|"]},
        history=("cpu", "percpu", "mem", "swap", "load"),
    ),
)
