"""Alerts fire with nobody polling: a real CPU load on a running statbus opens a
CPU_TOTAL event; an event whose cause is gone closes and keeps its statistics.

Only what the test itself controls is asserted: the busy loops it starts make every
core busy (whatever else the machine runs, the CPU total is then over 45 %), and the
closing is shown with a watched folder whose size the test sets, because the host's CPU
may stay busy after the test's own loops stop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import start_statbus
from tests.polling import sync_until

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


def events_of(base: str, event_type: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = httpx.get(f"{base}/alert", timeout=10).json()
    return [e for e in events if e["type"] == event_type]


def test_busy_children_open_a_cpu_total_event_that_names_them(tmp_path: Path) -> None:
    live = start_statbus(tmp_path, CONFIG)
    # one busy loop per core: cpu total near 100 % whatever the number of cores
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        opened = sync_until(lambda: events_of(live.base, "CPU_TOTAL"), within=60)
        assert opened[0]["state"] in {"WARNING", "CRITICAL"}
        assert opened[0]["end"] == -1
        # CRITICAL samples tally the top 3 processes: the busy loops are among them
        # (other busy processes of the machine may be too)
        ranked = sync_until(
            lambda: [e for e in events_of(live.base, "CPU_TOTAL") if e["top"]], within=60
        )
        assert any("python" in name for name in ranked[0]["top"]), ranked[0]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert live.stop() == 0


def test_an_event_closes_once_its_cause_is_gone(tmp_path: Path) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    live = start_statbus(
        tmp_path,
        CONFIG
        + f"""
[folders]
refresh = 1.0
"{watched}_log" = true
[[folders.folder]]
path = "{watched}"
warning = 1
refresh = 1
""",
    )
    event_type = f"FOLDERS_{str(watched).upper()}"
    (watched / "big").write_bytes(b"\0" * 2_000_000)
    opened = sync_until(lambda: events_of(live.base, event_type), within=60)
    assert opened[0]["state"] == "WARNING" and opened[0]["end"] == -1
    sync_until(lambda: events_of(live.base, event_type)[0]["count"] >= 2, within=60)
    time.sleep(2.5)  # at least min_duration, so the event is kept when it closes
    (watched / "big").unlink()
    (event,) = sync_until(
        lambda: [e for e in events_of(live.base, event_type) if e["end"] != -1], within=60
    )
    assert event["end"] >= event["begin"] + 2.0 and event["count"] >= 2
    assert event["max"] >= 2.0  # MB
    assert live.stop() == 0
