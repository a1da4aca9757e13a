"""State that survives a restart of the ``statbus`` command: history and events."""

from __future__ import annotations

import signal
import time
from datetime import datetime
from pathlib import Path

import httpx

from tests.conftest import start_statbus

CONFIG = "[api]\nport = 0\n[global]\nrefresh = 0.5\n"


def history(base: str, at_least: int) -> list[list[object]]:
    points: list[list[object]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(points) < at_least:
        points = httpx.get(f"{base}/cpu/user/history", timeout=5).json()
        time.sleep(0.3)
    assert len(points) >= at_least
    return points


def test_history_and_events_survive_a_restart(tmp_path: Path) -> None:
    # thresholds so low that a MEM event opens at once and stays ongoing
    config = CONFIG + "[mem]\ncareful = 1.0\nwarning = 2.0\ncritical = 3.0\n"
    first = start_statbus(tmp_path, config)
    points = history(first.base, 4)
    # only MEM is looked at: a busy machine (a CI runner) may open a CPU event too
    events = [e for e in httpx.get(f"{first.base}/alert", timeout=5).json() if e["type"] == "MEM"]
    assert [(e["type"], e["end"]) for e in events] == [("MEM", -1)]
    assert first.stop() == 0

    second = start_statbus(tmp_path, config)
    try:
        again = httpx.get(f"{second.base}/cpu/user/history", timeout=5).json()
        # every point of the first run is still there, in order, before the new ones
        assert again[: len(points)] == points
        # the event was saved; back within min_interval it is the same event again
        reloaded = httpx.get(f"{second.base}/alert", timeout=5).json()
        assert [(e["type"], e["begin"]) for e in reloaded if e["type"] == "MEM"] == [
            ("MEM", events[0]["begin"])
        ]
    finally:
        assert second.stop() == 0


def test_kill_9_loses_at_most_a_few_seconds_of_history(tmp_path: Path) -> None:
    first = start_statbus(tmp_path, CONFIG)
    points = history(first.base, 8)
    killed_at = time.time()
    first.stop(signal.SIGKILL)
    second = start_statbus(tmp_path, CONFIG)
    try:
        again = httpx.get(f"{second.base}/cpu/user/history", timeout=5).json()
        kept = [p for p in again if p in points]
        assert kept == points[: len(kept)]  # a prefix of what the first run served
        last = datetime.fromisoformat(str(kept[-1][0])).timestamp()
        assert killed_at - last < 3.0, "more than a few seconds of history lost"
    finally:
        assert second.stop() == 0
