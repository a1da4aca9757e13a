"""The ``gpu`` plugin: one entry per GPU, NVIDIA ones first, then AMD ones.

NVIDIA GPUs are read through NVML with ``pynvml``, from the optional extra
``nvidia-ml-py`` (``pip install statbus[gpu]``), imported on the first call only.
``nvmlInit`` is called once and its outcome kept in the sampler's state: when the module
is missing or NVML cannot start (no driver), the plugin lists no NVIDIA GPU from then on
and says why once in the log. Per device: the name, memory used / total in percent (a
float, unrounded, as the reference), the GPU utilization in percent, the GPU temperature
(°C) and the fan speed (NVML's percent of the maximum, as the reference, whatever the
field's unit says); a value NVML cannot give is ``None``.

AMD GPUs are read from sysfs (the ``amdgpu`` driver): every ``/sys/class/drm/cardN``
whose ``device/gpu_busy_percent`` exists, in card-number order, as ``amd0``, ``amd1``...
``proc`` is ``gpu_busy_percent``, ``mem`` ``mem_info_vram_used / mem_info_vram_total``
in percent rounded to an int, ``temperature`` the mean of the ``temp*_input`` files of
``device/hwmon/hwmon*`` in °C rounded to an int; the name is "AMD GPU" and the fan speed
``None``, as the reference.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import procfs

log = logging.getLogger(__name__)

#: where the kernel lists DRM devices (tests point it at a tree of their own)
DRM = "/sys/class/drm"
_CARD = re.compile(r"card[0-9]+")  # not card0-DP-1, a connector of card0
_HWMON = re.compile(r"hwmon[0-9]+")
_TEMP = re.compile(r"temp[0-9]+_input")


@dataclass(frozen=True, slots=True)
class GpuState:
    #: the ``pynvml`` module once ``nvmlInit`` succeeded; ``None``: NVML is unavailable
    #: (not retried)
    nvml: ModuleType | None


def sample_gpu(previous: GpuState | None, ctx: SampleContext) -> tuple[dict[str, Any], GpuState]:
    state = previous if previous is not None else GpuState(init_nvml())
    entries = nvidia_devices(state.nvml) if state.nvml is not None else []
    entries.extend(amd_devices(DRM))
    return {"gpu": entries}, state


# --- NVIDIA ----------------------------------------------------------------------------


def init_nvml() -> ModuleType | None:
    """``pynvml`` after a successful ``nvmlInit``, else ``None`` (logged: once per
    sampler, since the state keeps the outcome)."""
    try:
        nvml = importlib.import_module("pynvml")
    except ImportError as exc:
        log.debug("no NVIDIA GPU monitoring: %s (install the 'gpu' extra)", exc)
        return None
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        log.info("no NVIDIA GPU monitoring: NVML did not start (%s)", exc)
        return None
    return nvml


def nvidia_devices(nvml: Any) -> list[dict[str, Any]]:
    """An entry per NVML device; none when NVML cannot list them."""
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    except nvml.NVMLError as exc:
        log.debug("cannot list NVIDIA GPUs: %s", exc)
        return []
    entries = []
    for index, handle in enumerate(handles):
        name = _nvml(nvml, nvml.nvmlDeviceGetName, handle)
        if isinstance(name, bytes):  # nvidia-ml-py before 11.515 answers bytes
            name = name.decode(errors="replace")
        memory = _nvml(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)
        utilization = _nvml(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
        entries.append(
            {
                "key": "gpu_id",
                "gpu_id": f"nvidia{index}",
                "name": "NVIDIA" if name is None else name,
                "mem": memory.used * 100.0 / memory.total if memory and memory.total else None,
                "proc": None if utilization is None else utilization.gpu,
                "temperature": _nvml(
                    nvml, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU
                ),
                "fan_speed": _nvml(nvml, nvml.nvmlDeviceGetFanSpeed, handle),
            }
        )
    return entries


def _nvml(nvml: Any, fn: Any, *args: Any) -> Any:
    """``fn(*args)``, or ``None`` when NVML cannot tell (not supported, GPU lost...)."""
    try:
        return fn(*args)
    except nvml.NVMLError:
        return None


# --- AMD -------------------------------------------------------------------------------


def amd_devices(drm_root: str = DRM) -> list[dict[str, Any]]:
    """An entry per card of ``drm_root`` that has ``device/gpu_busy_percent``."""
    try:
        names = os.listdir(drm_root)
    except OSError:
        return []  # no DRM at all (a VM, a container)
    cards = sorted((n for n in names if _CARD.fullmatch(n)), key=lambda n: int(n[4:]))
    entries: list[dict[str, Any]] = []
    for name in cards:
        device = f"{drm_root}/{name}/device"
        busy = f"{device}/gpu_busy_percent"
        if not os.path.isfile(busy):
            continue  # not an amdgpu card (or not one that reports its load)
        used = _read_int(f"{device}/mem_info_vram_used")
        total = _read_int(f"{device}/mem_info_vram_total")
        entries.append(
            {
                "key": "gpu_id",
                "gpu_id": f"amd{len(entries)}",
                "name": "AMD GPU",
                "mem": round(used / total * 100) if used is not None and total else None,
                "proc": _read_int(busy),
                "temperature": amd_temperature(device),
                "fan_speed": None,
            }
        )
    return entries


def amd_temperature(device: str) -> int | None:
    """The mean of ``device/hwmon/hwmon*/temp*_input`` (millidegrees) in °C, rounded."""
    temps = []
    try:
        hwmons = [h for h in os.listdir(f"{device}/hwmon") if _HWMON.fullmatch(h)]
    except OSError:
        return None
    for hwmon in sorted(hwmons):
        try:
            files = os.listdir(f"{device}/hwmon/{hwmon}")
        except OSError:
            continue
        for file in sorted(files):
            if _TEMP.fullmatch(file):
                value = _read_int(f"{device}/hwmon/{hwmon}/{file}")
                if value is not None:
                    temps.append(value)
    return round(sum(temps) / len(temps) / 1000) if temps else None


def _read_int(path: str) -> int | None:
    """The integer a sysfs file holds; ``None`` when absent or unreadable (amdgpu
    answers an error while the GPU is suspended)."""
    try:
        return int(procfs.read(path))
    except (OSError, ValueError):
        return None


SAMPLERS = [SamplerSpec("gpu", ("gpu",), sample_gpu)]
