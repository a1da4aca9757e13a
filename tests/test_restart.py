"""State that survives a restart of the ``statbus`` command: history and events."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson

from tests.conftest import start_statbus

CONFIG = "[api]\nport = 0\n[global]\nrefresh = 0.5\n"


def test_history_and_events_survive_a_restart(tmp_path: Path) -> None:
    # An events list left by an earlier run (what the alert stage saved).
    data_dir = tmp_path / "state" / "statbus"
    data_dir.mkdir(parents=True)
    earlier = {
        "begin": 1_700_000_000, "state": "WARNING", "type": "MEM", "min": 71.0, "max": 75.0,
        "sum": 146.0, "count": 2, "avg": 73.0, "top": [], "desc": "", "sort": "memory_percent",
        "global_msg": "High memory consumption", "end": 1_700_000_030.0,
    }  # fmt: skip
    (data_dir / "events.json").write_bytes(orjson.dumps([earlier]))

    first = start_statbus(tmp_path, CONFIG)
    points: list[list[object]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(points) < 4:
        points = httpx.get(f"{first.base}/cpu/user/history", timeout=5).json()
        time.sleep(0.3)
    assert len(points) >= 4
    assert httpx.get(f"{first.base}/alert", timeout=5).json() == [earlier]
    assert first.stop() == 0

    second = start_statbus(tmp_path, CONFIG)
    try:
        again = httpx.get(f"{second.base}/cpu/user/history", timeout=5).json()
        # every point of the first run is still there, in order, before the new ones
        assert again[: len(points)] == points
        assert httpx.get(f"{second.base}/alert", timeout=5).json() == [earlier]
    finally:
        assert second.stop() == 0
