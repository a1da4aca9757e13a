"""The ``gpu`` sampler: AMD cards from a DRM tree, NVIDIA ones through a fake ``pynvml``.

The DRM trees are built in ``tmp_path`` as amdgpu lays them out under
``/sys/class/drm`` (a card, its connectors, ``device/`` with ``gpu_busy_percent``,
``mem_info_vram_*`` and ``hwmon/hwmonN/tempN_input``); the NVML module is a stand-in
placed in ``sys.modules`` with the functions and the ``NVMLError`` hierarchy of
nvidia-ml-py.
"""

from __future__ import annotations

import logging
import os
import sys
import types
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.plugins import PLUGINS
from pipeline.samplers import gpu
from pipeline.samplers.gpu import GpuState, amd_devices, sample_gpu
from tests.pipeline.sampler_helpers import context

GIB = 1024**3


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def drm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DRM tree: two amdgpu cards (card2, card10), an Intel card1, connectors."""
    root = tmp_path / "drm"
    write(root / "version", "drm 1.1.0 20060810\n")
    # card0: an amdgpu card with everything
    dev = root / "card0" / "device"
    write(dev / "gpu_busy_percent", "42\n")
    write(dev / "mem_info_vram_total", f"{8 * GIB}\n")
    write(dev / "mem_info_vram_used", f"{1 * GIB}\n")  # 12.5 % -> 12 (round half even)
    write(dev / "hwmon" / "hwmon3" / "temp1_input", "45000\n")
    write(dev / "hwmon" / "hwmon3" / "temp2_input", "51000\n")
    write(dev / "hwmon" / "hwmon3" / "temp2_label", "junction\n")
    write(dev / "hwmon" / "hwmon3" / "temp2_crit", "110000\n")  # not an input
    write(dev / "hwmon" / "hwmon3" / "name", "amdgpu\n")
    write(dev / "pp_dpm_sclk", "0: 500Mhz *\n1: 2600Mhz\n")
    write(root / "card0" / "dev", "226:0\n")
    # a connector of card0: its name starts with "card0" but it is not a card
    write(root / "card0-DP-1" / "status", "connected\n")
    write(root / "card0-DP-1" / "device" / "gpu_busy_percent", "99\n")
    # card1: an Intel GPU, no gpu_busy_percent
    write(root / "card1" / "device" / "vendor", "0x8086\n")
    write(root / "card1-HDMI-A-1" / "status", "disconnected\n")
    # card2 and card10: amdgpu cards without VRAM counters or hwmon
    write(root / "card2" / "device" / "gpu_busy_percent", "0\n")
    write(root / "card10" / "device" / "gpu_busy_percent", "100\n")
    write(root / "card10" / "device" / "mem_info_vram_total", "0\n")
    write(root / "card10" / "device" / "mem_info_vram_used", "0\n")
    write(root / "renderD128" / "dev", "226:128\n")
    monkeypatch.setattr(gpu, "DRM", str(root))
    return root


AMD = [
    {
        "key": "gpu_id",
        "gpu_id": "amd0",
        "name": "AMD GPU",
        "mem": 12,
        "proc": 42,
        "temperature": 48,  # (45 + 51) / 2
        "fan_speed": None,
    },
    {
        "key": "gpu_id",
        "gpu_id": "amd1",  # card2: cards in number order, card10 after it
        "name": "AMD GPU",
        "mem": None,
        "proc": 0,
        "temperature": None,
        "fan_speed": None,
    },
    {
        "key": "gpu_id",
        "gpu_id": "amd2",
        "name": "AMD GPU",
        "mem": None,  # a total of 0
        "proc": 100,
        "temperature": None,
        "fan_speed": None,
    },
]


def test_amd_cards_of_a_drm_tree(drm: Path) -> None:
    assert amd_devices(str(drm)) == AMD


def test_an_unreadable_amd_value_is_none(drm: Path) -> None:
    # amdgpu fails the read of gpu_busy_percent while the GPU is runtime-suspended
    (drm / "card0/device/gpu_busy_percent").write_text("")
    (drm / "card0/device/hwmon/hwmon3/temp1_input").write_text("")
    (drm / "card0/device/mem_info_vram_used").unlink()
    entry = amd_devices(str(drm))[0]
    assert (entry["proc"], entry["mem"], entry["temperature"]) == (None, None, 51)


def test_no_drm_tree_is_no_amd_gpu(tmp_path: Path) -> None:
    assert amd_devices(str(tmp_path / "absent")) == []


# --- NVIDIA through a fake pynvml ------------------------------------------------------


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class FakeNvml(types.ModuleType):
    """``pynvml`` over ``devices`` (a value that is an exception is raised by its
    getter); ``calls`` counts the calls of the functions that are not getters."""

    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, devices: list[dict[str, Any]], init_error: Exception | None = None):
        super().__init__("pynvml")
        self.devices = devices
        self.init_error = init_error
        self.calls: Counter[str] = Counter()
        self.lost = False

    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.init_error is not None:
            raise self.init_error

    def nvmlDeviceGetCount(self) -> int:
        self.calls["nvmlDeviceGetCount"] += 1
        if self.lost:
            raise NVMLError("GPU is lost")
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self.calls["nvmlDeviceGetHandleByIndex"] += 1
        return index

    def _field(self, handle: int, name: str) -> Any:
        value = self.devices[handle][name]
        if isinstance(value, Exception):
            raise value
        return value

    def nvmlDeviceGetName(self, handle: int) -> Any:
        return self._field(handle, "name")

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return self._field(handle, "memory")

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return self._field(handle, "utilization")

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> Any:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return self._field(handle, "temperature")

    def nvmlDeviceGetFanSpeed(self, handle: int) -> Any:
        return self._field(handle, "fan")


DEVICES: list[dict[str, Any]] = [
    {
        "name": "NVIDIA GeForce RTX 3080",
        "memory": SimpleNamespace(total=10 * GIB, used=GIB, free=9 * GIB),
        "utilization": SimpleNamespace(gpu=35, memory=12),
        "temperature": 61,
        "fan": 40,
    },
    {
        "name": b"Tesla T4",  # nvidia-ml-py before 11.515 answers bytes
        "memory": NVMLError_NotSupported("Not Supported"),
        "utilization": NVMLError_NotSupported("Not Supported"),
        "temperature": NVMLError_NotSupported("Not Supported"),
        "fan": NVMLError_NotSupported("Not Supported"),  # passively cooled
    },
    {
        "name": NVMLError("Unknown Error"),
        "memory": SimpleNamespace(total=0, used=0, free=0),
        "utilization": SimpleNamespace(gpu=0, memory=0),
        "temperature": 30,
        "fan": 0,
    },
]
NVIDIA = [
    {
        "key": "gpu_id",
        "gpu_id": "nvidia0",
        "name": "NVIDIA GeForce RTX 3080",
        "mem": 10.0,
        "proc": 35,
        "temperature": 61,
        "fan_speed": 40,
    },
    {
        "key": "gpu_id",
        "gpu_id": "nvidia1",
        "name": "Tesla T4",
        "mem": None,
        "proc": None,
        "temperature": None,
        "fan_speed": None,
    },
    {
        "key": "gpu_id",
        "gpu_id": "nvidia2",
        "name": "NVIDIA",  # the reference's name when NVML cannot tell
        "mem": None,
        "proc": 0,
        "temperature": 30,
        "fan_speed": 0,
    },
]


@pytest.fixture
def no_drm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "DRM", str(tmp_path / "no-drm"))


def test_nvidia_devices_then_amd_ones(drm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml(DEVICES)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    data, state = sample_gpu(None, context(["gpu"]))
    assert data == {"gpu": NVIDIA + AMD}
    assert state == GpuState(nvml)
    again, state2 = sample_gpu(state, context(["gpu"]))
    assert again == data
    assert state2 is state
    assert nvml.calls["nvmlInit"] == 1  # once, remembered in the state
    assert nvml.calls["nvmlDeviceGetCount"] == 2


def test_a_lost_nvml_lists_no_nvidia_gpu_that_round(
    no_drm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvml = FakeNvml(DEVICES[:1])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    _, state = sample_gpu(None, context(["gpu"]))
    nvml.lost = True
    assert sample_gpu(state, context(["gpu"]))[0] == {"gpu": []}
    nvml.lost = False
    assert sample_gpu(state, context(["gpu"]))[0] == {"gpu": NVIDIA[:1]}


def test_nvml_that_does_not_start_is_not_retried(
    drm: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    error = NVMLError_LibraryNotFound("NVML Shared Library Not Found")
    nvml = FakeNvml(DEVICES, init_error=error)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    with caplog.at_level(logging.DEBUG, logger=gpu.__name__):
        data, state = sample_gpu(None, context(["gpu"]))
        data2, _ = sample_gpu(state, context(["gpu"]))
    assert data == data2 == {"gpu": AMD}
    assert state == GpuState(None)
    assert nvml.calls == {"nvmlInit": 1}
    assert [r.getMessage() for r in caplog.records] == [
        "no NVIDIA GPU monitoring: NVML did not start (NVML Shared Library Not Found)"
    ]


def test_without_pynvml_nor_drm_there_is_no_gpu(
    no_drm: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    with caplog.at_level(logging.DEBUG, logger=gpu.__name__):
        data, state = sample_gpu(None, context(["gpu"]))
        assert sample_gpu(state, context(["gpu"]))[0] == data
    assert data == {"gpu": PLUGINS["gpu"].empty()} == {"gpu": []}
    assert state == GpuState(None)
    assert len(caplog.records) == 1


# --- live ------------------------------------------------------------------------------


def test_live_this_machine_has_no_gpu() -> None:
    has_amd = os.path.isdir(gpu.DRM) and any(
        os.path.isfile(f"{gpu.DRM}/{card}/device/gpu_busy_percent") for card in os.listdir(gpu.DRM)
    )
    if has_amd or os.path.exists("/dev/nvidiactl"):
        pytest.skip("this machine has a GPU")
    data, state = sample_gpu(None, context(["gpu"]))
    assert data == {"gpu": []}
    assert sample_gpu(state, context(["gpu"]))[0] == {"gpu": []}
