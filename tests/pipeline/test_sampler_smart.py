"""The smart plugin, with a fake ``smartctl`` on PATH printing captured JSON outputs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import from_mapping
from pipeline.samplers import smart
from pipeline.samplers.smart import device_entry, parse_scan, sample_smart
from tests.pipeline.sampler_helpers import LOOPBACK_ONLY, context

FIXTURES = Path(__file__).parent / "fixtures" / "smart"
FAKE = FIXTURES / "bin" / "smartctl"


class Fake:
    """The fake smartctl's data directory and the argv of every call it received."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        shutil.copy(FAKE, bin_dir / "smartctl")
        self.log = tmp_path / "calls.log"
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
        monkeypatch.setenv("FAKE_SMARTCTL_DATA", str(data))
        monkeypatch.setenv("FAKE_SMARTCTL_LOG", str(self.log))

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        out: list[list[str]] = [[]]
        for arg in self.log.read_text().splitlines():
            if arg == "::end::":
                out.append([])
            else:
                out[-1].append(arg)
        return out[:-1]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    return Fake(tmp_path, monkeypatch, FIXTURES / "linux")


def sample(options: dict[str, Any] | None = None) -> Any:
    """The ``smart`` data (a list, or ``{}`` without smartctl)."""
    config = from_mapping({**LOOPBACK_ONLY, "smart": {"disable": False, **(options or {})}})
    data, state = sample_smart(None, context(["smart"], config=config))
    assert state is None
    return data["smart"]


def by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["DeviceName"]: e for e in entries}


def test_without_smartctl_the_plugin_is_an_empty_dict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sample() == {}


def test_each_disk_read_is_an_entry_named_by_device_and_model(fake: Fake) -> None:
    entries = sample()
    assert [e["DeviceName"] for e in entries] == [
        "sda Samsung SSD 860 EVO 500GB",
        "sdb WDC WD40EFRX-68N32N0",
        "nvme0 Samsung SSD 970 EVO Plus 1TB",
    ]  # sdc is in standby (exit 2), sdd could not be opened by the scan
    assert all(e["key"] == "DeviceName" for e in entries)


def test_smartctl_is_asked_without_waking_a_sleeping_disk(fake: Fake) -> None:
    sample()
    calls = fake.calls()
    assert calls[0] == ["--json", "--scan-open"]
    assert sorted(calls[1:]) == sorted(
        ["--json", "-n", "standby", "-i", "-A", "-d", kind, "--", dev]
        for dev, kind in [
            ("/dev/sda", "sat"),
            ("/dev/sdb", "sat"),
            ("/dev/sdc", "sat"),
            ("/dev/nvme0", "nvme"),
        ]
    )  # not /dev/sdd: its open failed during the scan


def test_ata_attributes_are_keyed_by_id_in_pysmarts_types(fake: Fake) -> None:
    sda = by_name(sample())["sda Samsung SSD 860 EVO 500GB"]
    ids = [k for k in sda if k not in ("DeviceName", "key")]
    assert ids == ["5", "9", "12", "177", "179", "181", "182", "183", "187", "190", "195"] + [
        "199",
        "235",
        "241",
    ]
    assert sda["5"] == {
        "name": "Reallocated_Sector_Ct",
        "flags": 0x33,
        "raw": "0",
        "value": "100",
        "worst": 100,
        "threshold": 10,
        "type": "Pre-fail",
        "updated": "Always",
        "when_failed": "-",
    }
    assert sda["190"]["value"] == "067"  # smartctl's (and pySMART's) three digits
    assert sda["190"]["worst"] == 52
    assert sda["190"]["type"] == "Old_age"
    assert sda["241"]["raw"] == "52113492847"


def test_exit_status_4_is_still_parsed(fake: Fake) -> None:
    sdb = by_name(sample())["sdb WDC WD40EFRX-68N32N0"]
    assert sdb["5"]["when_failed"] == "FAILING_NOW"
    assert sdb["197"]["when_failed"] == "In_the_past"
    assert sdb["194"]["raw"] == "40 (Min/Max 22/55)"
    assert sdb["194"]["updated"] == "Always"
    assert sdb["1"]["type"] == "Pre-fail"


def test_nvme_health_log_becomes_pseudo_attributes_keyed_by_offset(fake: Fake) -> None:
    nvme = by_name(sample())["nvme0 Samsung SSD 970 EVO Plus 1TB"]
    attrs = {k: v for k, v in nvme.items() if k not in ("DeviceName", "key")}
    assert list(attrs) == [str(offset) for offset, _ in smart.NVME_FIELDS.values()]
    assert attrs["1"] == {
        "name": "Temperature_Celsius",
        "flags": None,
        "raw": "38",
        "value": None,
        "worst": None,
        "threshold": None,
        "type": None,
        "updated": "Always",
        "when_failed": "-",
    }
    assert attrs["3"]["name"] == "Available_Spare"
    assert (attrs["3"]["value"], attrs["3"]["threshold"]) == ("100", 10)
    assert attrs["176"]["raw"] == "2201"
    assert attrs["0"]["when_failed"] == "-"


def test_nvme_warnings_are_failing_now() -> None:
    doc = {
        "model_name": "X",
        "nvme_smart_health_information_log": {
            "critical_warning": 4,
            "available_spare": 5,
            "available_spare_threshold": 10,
            "temperature_sensors": [30],
        },
    }
    entry = device_entry("/dev/nvme1", doc)
    assert entry["DeviceName"] == "nvme1 X"
    assert entry["0"]["when_failed"] == "FAILING_NOW"
    assert entry["3"]["when_failed"] == "FAILING_NOW"
    assert set(entry) == {"DeviceName", "0", "3", "4"}


def test_a_disk_without_attributes_is_listed_by_name() -> None:
    entry = device_entry("/dev/sde", {"scsi_model_name": "SEAGATE ST4000NM0023", "x": 1})
    assert entry == {"DeviceName": "sde SEAGATE ST4000NM0023"}
    assert device_entry("/dev/sdf", {}) == {"DeviceName": "sdf"}


def test_parse_scan_skips_devices_it_could_not_open_and_malformed_ones() -> None:
    doc = {
        "devices": [
            {"name": "/dev/sda", "type": "sat"},
            {"name": "/dev/sdb", "type": "scsi", "open_error": "Permission denied"},
            {"type": "sat"},
            "junk",
            {"name": "/dev/sdc"},
        ]
    }
    assert parse_scan(doc) == [("/dev/sda", "sat"), ("/dev/sdc", "auto")]
    assert parse_scan({}) == []


def test_disks_of_one_model_behind_one_controller_get_their_type_appended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Fake(tmp_path, monkeypatch, FIXTURES / "megaraid")
    entries = sample()
    assert [e["DeviceName"] for e in entries] == [
        "bus/0 ST4000VN008-2DR166",
        "bus/0 ST4000VN008-2DR166 (sat+megaraid,1)",
    ]
    assert entries[1]["9"]["raw"] == "30207 (5 89 0)"


def test_a_failed_scan_is_an_empty_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-data"
    empty.mkdir()
    Fake(tmp_path, monkeypatch, empty)  # scan-open exits 2 with no output
    assert sample() == []


def test_a_slow_disk_is_killed_at_the_command_timeout_and_skipped(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SMARTCTL_SLOW", "/dev/sda")
    monkeypatch.setenv("FAKE_SMARTCTL_SLEEP", "30")
    start = time.monotonic()
    entries = sample({"command_timeout": 0.5})
    assert time.monotonic() - start < 0.5 + 5  # the budget plus a generous margin
    assert [e["DeviceName"].split()[0] for e in entries] == ["sdb", "nvme0"]


def test_the_round_ends_within_the_sampler_timeout(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SMARTCTL_SLOW", "/dev/nvme0")
    monkeypatch.setenv("FAKE_SMARTCTL_SLEEP", "30")
    start = time.monotonic()
    entries = sample({"timeout": 1.0})  # command_timeout stays 10 s
    assert time.monotonic() - start < 1.0 + 5
    assert [e["DeviceName"].split()[0] for e in entries] == ["sda", "sdb"]


def test_live_smart_on_this_machine() -> None:
    data, _ = sample_smart(None, context(["smart"]))
    if shutil.which("smartctl") is None:
        assert data == {"smart": {}}
    else:
        assert isinstance(data["smart"], list)
        for entry in data["smart"]:
            assert entry["key"] == "DeviceName" and isinstance(entry["DeviceName"], str)
