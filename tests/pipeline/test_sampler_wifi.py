"""The wifi plugin on copies of /proc/net/wireless, and on this machine's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pipeline.samplers import procfs
from pipeline.samplers.wifi import sample_wifi
from tests.pipeline.sampler_helpers import context

FIXTURES = Path(__file__).parent / "fixtures" / "wifi"


def wifi_of(monkeypatch: pytest.MonkeyPatch, root: Path) -> Any:
    monkeypatch.setattr(procfs, "PROC", str(root))
    data, state = sample_wifi(None, context(["wifi"]))
    assert state is None
    return data["wifi"]


def test_one_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    assert wifi_of(monkeypatch, FIXTURES / "one") == [
        {"ssid": "wlp2s0", "quality_link": 51.0, "quality_level": -59.0, "key": "ssid"}
    ]


def test_two_interfaces_in_the_file_order_updated_or_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = wifi_of(monkeypatch, FIXTURES / "two")
    assert entries == [
        {"ssid": "wlan0", "quality_link": 70.0, "quality_level": -40.0, "key": "ssid"},
        # no "." after the numbers: not updated since the last reading, same values
        {"ssid": "wlp3s0", "quality_link": 20.0, "quality_level": -90.0, "key": "ssid"},
    ]
    assert all(type(e["quality_level"]) is float for e in entries)


def test_a_malformed_line_is_skipped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    lines = (FIXTURES / "two" / "net" / "wireless").read_text().splitlines(keepends=True)
    lines.insert(2, " wlan9: 0000   xx.  -50.\n")  # not a number
    lines.insert(2, " wlan8: 0000\n")  # too short
    lines.insert(2, "garbage without a colon\n")
    (tmp_path / "net" / "wireless").write_text("".join(lines))
    entries = wifi_of(monkeypatch, tmp_path)
    assert [e["ssid"] for e in entries] == ["wlan0", "wlp3s0"]


def test_no_interface_or_no_file_is_the_empty_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert wifi_of(monkeypatch, FIXTURES / "header_only") == []  # no wireless interface
    assert wifi_of(monkeypatch, tmp_path) == []  # no wireless extensions


def test_live() -> None:
    data, state = sample_wifi(None, context(["wifi"]))
    assert state is None
    if not os.path.exists("/proc/net/wireless"):
        assert data == {"wifi": []}
        return
    names = [
        line.split(":")[0].strip()
        for line in Path("/proc/net/wireless").read_text().splitlines()[2:]
    ]
    assert [e["ssid"] for e in data["wifi"]] == names
