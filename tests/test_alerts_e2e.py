"""Alerts fire with nobody polling: a real CPU load on a running statbus opens a
CPU_TOTAL event, and it closes once the load stops."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import start_statbus

CONFIG = """
[api]
port = 0
[global]
refresh = 1.0
[cpu]
total_careful = 35.0
total_warning = 40.0
total_critical = 45.0
[alert]
min_duration = 2.0
min_interval = 1.0
"""


def cpu_total_events(base: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = httpx.get(f"{base}/alert", timeout=5).json()
    return [e for e in events if e["type"] == "CPU_TOTAL"]


def wait_for(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.5)
    return None


def test_busy_children_open_then_close_a_cpu_total_event(tmp_path: Path) -> None:
    live = start_statbus(tmp_path, CONFIG)
    # one busy loop per core: cpu total near 100 % whatever the number of cores
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        opened = wait_for(lambda: cpu_total_events(live.base), timeout=20)
        assert opened, "no CPU_TOTAL event while every core was busy"
        assert opened[0]["state"] in {"WARNING", "CRITICAL"}
        assert opened[0]["end"] == -1
        # CRITICAL samples tally the top processes: the busy loops lead them
        ranked = wait_for(lambda: [e for e in cpu_total_events(live.base) if e["top"]], 20)
        assert ranked and "python" in ranked[0]["top"][0]
        time.sleep(2.5)  # longer than min_duration, so the event is kept when it closes
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    closed = wait_for(
        lambda: [e for e in cpu_total_events(live.base) if e["end"] != -1], timeout=20
    )
    assert closed, "the CPU_TOTAL event did not close after the load stopped"
    event = closed[0]
    assert event["end"] >= event["begin"] and event["count"] >= 2
    assert event["max"] >= 40.0
    assert live.stop() == 0
