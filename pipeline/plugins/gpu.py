"""GPUs: NVIDIA (NVML) and AMD (docs/plugins/gpu.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.plugins.descriptor import FieldInfo, PluginInfo, cwc, decorate, fixed

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

F = FieldInfo


def gpu(j: Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``proc``, ``mem``, ``temperature``: limits ``gpu_<gpu_id>_<field>_*`` when the
    GPU has any, else ``gpu_<field>_*`` (as sensors: per item, else per field)."""
    gpu_id = str(entry.get("gpu_id"))
    for field in ("proc", "mem", "temperature"):
        if field not in entry:
            continue
        own = f"{gpu_id}_{field}"
        header = own if j.has_own_limits(j.stat_name(own)) else field
        decorate(views, field, j.alert(f"{gpu_id}\0{field}", entry[field], header=header))


DESCRIPTORS = (
    PluginInfo(
        "gpu",
        "list",
        "gpu_id",
        fields={
            "gpu_id": F("GPU identification.", ""),
            "name": F("GPU name.", ""),
            "mem": F("Memory consumption.", "percent"),
            "proc": F("GPU processor consumption.", "percent"),
            "temperature": F("GPU temperature.", "celsius"),
            "fan_speed": F("GPU fan speed.", "roundperminute"),
        },
        limits=fixed(
            {
                **cwc("gpu_mem", 50, 70, 90),
                **cwc("gpu_proc", 50, 70, 90),
                **cwc("gpu_temperature", 60, 70, 80),
            }
        ),
        rule=gpu,
        sectioned=True,
        history=("proc", "mem"),
    ),
)
