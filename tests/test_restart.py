"""State that survives a restart of the ``statbus`` command: history and events."""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path

import httpx
import orjson

from pipeline.stages.alerts import SAVE_INTERVAL
from tests.conftest import start_statbus
from tests.polling import sync_until

CONFIG = "[api]\nport = 0\n[global]\nrefresh = 0.5\n"


def history(base: str, at_least: int) -> list[list[object]]:
    def enough() -> list[list[object]] | None:
        points: list[list[object]] = httpx.get(f"{base}/cpu/user/history", timeout=10).json()
        return points if len(points) >= at_least else None

    found: list[list[object]] = sync_until(enough, within=60)
    return found


def ts(point: list[object]) -> float:
    return datetime.fromisoformat(str(point[0])).timestamp()


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


def test_kill_9_loses_at_most_a_few_seconds_of_history_and_events(tmp_path: Path) -> None:
    """SIGKILL, then a restart: the history as of at most a few seconds before the kill
    (written every history_write_interval), and the events list as of at most
    SAVE_INTERVAL before it (transitions are saved at once, running figures at most
    that often).  "Before the kill" is measured from the newest point statbus served
    just before it (its own clock), not from the test's clock, which a loaded machine
    may hold up between the request and the kill."""
    config = CONFIG + "[mem]\ncareful = 1.0\nwarning = 2.0\ncritical = 3.0\n"
    first = start_statbus(tmp_path, config)
    # 8 s: longer than SAVE_INTERVAL + the margin below, so that only a save of the
    # running figures (not the one at the event's opening) passes
    points = history(first.base, 16)
    (event,) = [e for e in httpx.get(f"{first.base}/alert", timeout=5).json() if e["type"] == "MEM"]
    newest = ts(httpx.get(f"{first.base}/cpu/user/history", timeout=10).json()[-1])
    first.stop(signal.SIGKILL)
    saved = orjson.loads((tmp_path / "state" / "statbus" / "events.json").read_bytes())
    assert newest - saved["saved_at"] < SAVE_INTERVAL + 1.5, "more than a few seconds lost"
    (kept_event,) = [e for e in saved["events"] if e["type"] == "MEM"]
    assert kept_event["begin"] == event["begin"]
    # every sample counted up to the save (refresh 0.5 s: two a second)
    assert kept_event["count"] >= event["count"] - 2 * (SAVE_INTERVAL + 1.5)
    second = start_statbus(tmp_path, config)
    try:
        again = httpx.get(f"{second.base}/cpu/user/history", timeout=5).json()
        kept = [p for p in again if p in points]
        assert kept == points[: len(kept)]  # a prefix of what the first run served
        assert newest - ts(kept[-1]) < 3.0, "more than a few seconds of history lost"
        reloaded = httpx.get(f"{second.base}/alert", timeout=5).json()
        assert [e["begin"] for e in reloaded if e["type"] == "MEM"] == [event["begin"]]
    finally:
        assert second.stop() == 0
