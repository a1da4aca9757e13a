"""The alert stage: the reference's events list lifecycle, transitions, clearing and
persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

from pipeline.bus import Bus, Policy
from pipeline.config import load
from pipeline.demand import Demand
from pipeline.events import AlertEvent, StatEvent, ViewsEvent
from pipeline.stages.alerts import (
    EVENTS_FILE,
    VIEWS_TOPIC,
    AlertStage,
    EventsList,
    global_message,
    top_processes,
)
from pipeline.topics import ALERTS_TOPIC, STATS_TOPIC

T0 = 1_800_000_000
PROCS = [
    {"name": "hog", "cpu_percent": 90.0, "memory_percent": 1.0},
    {"name": "db", "cpu_percent": 5.0, "memory_percent": 40.0},
    {"name": "idle", "cpu_percent": 0.0, "memory_percent": 0.1},
]


def feed(events: EventsList, samples: list[tuple[int, str, float]], kind: str = "CPU_TOTAL"):
    out = []
    for t, state, value in samples:
        out += [(tr, e.type) for tr, e in events.add(state, kind, value, T0 + t, "m", PROCS)]
    return out


def test_event_opens_escalates_updates_and_closes() -> None:
    events = EventsList(max_events=10, min_duration=6, min_interval=6)
    transitions = feed(
        events,
        [(0, "OK", 10), (2, "WARNING", 76), (4, "CRITICAL", 90), (6, "WARNING", 80),
         (8, "CRITICAL", 95), (10, "OK", 20)],
    )  # fmt: skip
    assert transitions == [
        ("opened", "CPU_TOTAL"),
        ("escalated", "CPU_TOTAL"),
        ("closed", "CPU_TOTAL"),
    ]
    (event,) = events.as_json()
    assert list(event) == [
        "begin", "state", "type", "min", "max", "sum", "count", "avg", "top", "desc",
        "sort", "global_msg", "end",
    ]  # fmt: skip
    assert event["begin"] == T0 + 2 and event["end"] == T0 + 10
    assert event["state"] == "CRITICAL"  # never back down to WARNING
    assert (event["min"], event["max"], event["count"]) == (76, 95, 4)
    assert event["sum"] == 76 + 90 + 80 + 95 and event["avg"] == pytest.approx(341 / 4)
    assert event["top"][0] == "hog" and event["sort"] == "cpu_percent"


def test_short_event_is_deleted_and_recent_one_reopens() -> None:
    events = EventsList(max_events=10, min_duration=6, min_interval=6)
    feed(events, [(0, "WARNING", 80), (4, "OK", 10)])
    assert events.as_json() == []  # lasted 4 s < min_duration
    feed(events, [(10, "WARNING", 80), (20, "CAREFUL", 60)])
    (closed,) = events.as_json()
    assert closed["end"] == T0 + 20
    # back within min_interval (6 s) of its end: the same event, ongoing again
    assert feed(events, [(24, "WARNING", 81)]) == [("opened", "CPU_TOTAL")]
    (again,) = events.as_json()
    assert again["begin"] == T0 + 10 and again["end"] == -1 and again["count"] == 2
    # after min_interval a new event starts
    feed(events, [(30, "OK", 1), (40, "WARNING", 82)])
    assert [e["begin"] for e in events.as_json()] == [T0 + 40, T0 + 10]


def test_ok_without_event_opens_nothing_and_types_are_separate() -> None:
    events = EventsList(max_events=10, min_duration=0, min_interval=0)
    assert feed(events, [(0, "OK", 1), (1, "CAREFUL", 55)]) == []
    feed(events, [(2, "WARNING", 75)], kind="MEM")
    feed(events, [(3, "CRITICAL", 99)], kind="LOAD")
    assert [e["type"] for e in events.as_json()] == ["LOAD", "MEM"]  # newest first
    # as the reference: a new event starts with top [], CRITICAL updates tally it
    assert events.as_json()[0]["top"] == []
    feed(events, [(4, "WARNING", 76)], kind="MEM")
    feed(events, [(4, "CRITICAL", 98)], kind="LOAD")
    assert events.as_json()[1]["sort"] == "memory_percent"
    assert events.as_json()[1]["top"] == []  # only CRITICAL samples tally processes
    assert events.as_json()[0]["top"] == ["hog", "db", "idle"]


def test_max_events_evicts_the_oldest() -> None:
    events = EventsList(max_events=2, min_duration=0, min_interval=0)
    feed(events, [(0, "WARNING", 80)], kind="A")
    feed(events, [(1, "WARNING", 80)], kind="B")
    assert feed(events, [(2, "WARNING", 80)], kind="C") == [("opened", "C"), ("cleared", "A")]
    assert [e["type"] for e in events.as_json()] == ["C", "B"]


def test_clear_keeps_ongoing_and_critical_unless_all() -> None:
    events = EventsList(max_events=10, min_duration=0, min_interval=0)
    feed(events, [(0, "WARNING", 80), (1, "OK", 1)], kind="W")
    feed(events, [(0, "CRITICAL", 99), (1, "OK", 1)], kind="C")
    feed(events, [(2, "WARNING", 80)], kind="ONGOING")
    assert [e.type for e in events.clear(critical=False)] == ["W"]
    assert {e["type"] for e in events.as_json()} == {"C", "ONGOING"}
    assert [e.type for e in events.clear(critical=True)] == ["C"]
    assert [e["type"] for e in events.as_json()] == ["ONGOING"]


def test_global_message_and_top_processes() -> None:
    assert global_message({}) == "EVENTS history"
    assert global_message({"cpu_user": 1}) == "EVENTS history"  # weight below 2
    assert global_message({"cpu_user": 2, "mem": 3}) == "High memory consumption"
    assert global_message({"cpu_user": 3, "mem": 3}) == "High CPU user mode"  # first wins
    assert top_processes(PROCS, "memory_percent", 2) == ["db", "hog"]
    io = [{"name": "a", "io_counters": [10, 10, 0, 0, 1]}, {"name": "b", "io_counters": []}]
    assert top_processes(io, "io_counters") == ["a", "b"]


def views(t: int, *alerts: list[Any], levels: dict[str, int] | None = None) -> ViewsEvent:
    return ViewsEvent("cpu", float(T0 + t), {}, list(alerts), levels or {})


async def settle(bus: Bus) -> None:
    """Until every queue is empty and every task idle (saves run in worker threads)."""
    for _ in range(100):
        await trio.sleep(0.02)
        await trio.testing.wait_all_tasks_blocked()
        if all(sub["depth"] == 0 for sub in bus.subscribers()):
            await trio.sleep(0.05)
            await trio.testing.wait_all_tasks_blocked()
            return


async def run_stage(
    data_dir: Path, body: Any, demand: Demand | None = None, **overrides: Any
) -> Any:
    config = load(overrides={"alert.min_duration": 0.0, **overrides})
    bus = Bus()
    stage = AlertStage(bus, config, data_dir, wall_clock=lambda: float(T0), demand=demand)
    seen: dict[str, list[Any]] = {"alerts": [], "lists": []}

    async def watch(sub: Any, key: str) -> None:
        async for event in sub:
            if key == "alerts" or (isinstance(event, StatEvent) and event.plugin == "alert"):
                seen[key].append(event)

    with (
        trio.fail_after(10),
        bus.subscribe(ALERTS_TOPIC, name="t1", policy=Policy.LOSSLESS) as alerts,
        bus.subscribe(STATS_TOPIC, name="t2", policy=Policy.LOSSLESS) as stats,
    ):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, alerts, "alerts")
            nursery.start_soon(watch, stats, "lists")
            await nursery.start(stage.run)
            await body(bus, stage)
            await settle(bus)
            nursery.cancel_scope.cancel()
    return stage, seen


async def test_stage_publishes_transitions_and_the_list(tmp_path: Path) -> None:
    async def body(bus: Bus, stage: AlertStage) -> None:
        await bus.publish(STATS_TOPIC, StatEvent("processlist", T0, 1, PROCS))
        await settle(bus)
        await bus.publish(VIEWS_TOPIC, views(0, ["CPU_TOTAL", "CRITICAL", 97.0]))
        await bus.publish(VIEWS_TOPIC, views(1, ["CPU_TOTAL", "CRITICAL", 98.0]))
        await bus.publish(VIEWS_TOPIC, views(5, ["CPU_TOTAL", "OK", 3.0]))

    stage, seen = await run_stage(tmp_path, body)
    assert [(a.transition, a.event["type"]) for a in seen["alerts"]] == [
        ("opened", "CPU_TOTAL"),
        ("closed", "CPU_TOTAL"),
    ]
    assert all(isinstance(a, AlertEvent) for a in seen["alerts"])
    assert seen["alerts"][0].event["top"] == []  # opened: nothing tallied yet
    assert seen["alerts"][1].event["top"] == ["hog", "db", "idle"]  # closed
    # the list is published as the "alert" plugin: empty at start, then after each change
    assert seen["lists"][0].data == []
    assert seen["lists"][-1].data[0]["end"] == T0 + 5


async def test_the_process_list_is_decoded_only_when_a_critical_sample_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.stages import alerts as alerts_module

    decoded: list[str] = []
    real_fields = alerts_module.codec.fields

    def fields(raw: bytes, cls: Any, names: tuple[str, ...]) -> Any:
        if cls is StatEvent:
            decoded.append(real_fields(raw, cls, ("plugin",))[0])
        return real_fields(raw, cls, names)

    monkeypatch.setattr(alerts_module.codec, "fields", fields)
    later = [{"name": "late", "cpu_percent": 99.0}]

    async def body(bus: Bus, stage: AlertStage) -> None:
        for seq in range(1, 4):  # samples nobody needs: never decoded
            await bus.publish(STATS_TOPIC, StatEvent("processlist", T0, seq, PROCS))
            await bus.publish(STATS_TOPIC, StatEvent("processcount", T0, seq, {"total": 3}))
            await bus.publish(VIEWS_TOPIC, views(seq, ["CPU_TOTAL", "OK", 3.0]))
            await settle(bus)
        assert decoded == []
        await bus.publish(VIEWS_TOPIC, views(4, ["CPU_TOTAL", "WARNING", 80.0]))
        await settle(bus)
        assert decoded == []  # a WARNING sample tallies nothing
        await bus.publish(VIEWS_TOPIC, views(5, ["CPU_TOTAL", "CRITICAL", 97.0]))
        await bus.publish(VIEWS_TOPIC, views(6, ["CPU_TOTAL", "CRITICAL", 97.0]))
        await settle(bus)
        assert decoded == ["processlist"]  # once for the two samples
        assert stage._decoded is not None
        await bus.publish(STATS_TOPIC, StatEvent("processlist", T0, 4, later))
        await settle(bus)
        # the decoded older list is not kept once a newer one came (it used to stay
        # until the next tally: for ever while the API kept the lists coming)
        assert stage._decoded is None
        await bus.publish(VIEWS_TOPIC, views(7, ["CPU_TOTAL", "CRITICAL", 97.0]))
        await bus.publish(VIEWS_TOPIC, views(8, ["CPU_TOTAL", "OK", 3.0]))

    stage, seen = await run_stage(tmp_path, body)
    assert decoded == ["processlist", "processlist"]
    closed = seen["alerts"][-1].event
    # two samples tallied hog, db, idle; the last one the newer list's only process
    assert closed["top"] == ["hog", "db", "idle"]
    assert stage.events.events[0].top_tally["late"] == 1


async def test_a_views_event_that_does_not_decode_is_dropped(tmp_path: Path) -> None:
    async def body(bus: Bus, stage: AlertStage) -> None:
        await bus.publish_raw(VIEWS_TOPIC, b"\x93garbage")
        await bus.publish(VIEWS_TOPIC, StatEvent("cpu", T0, 1, {}))  # not a verdict
        await bus.publish(VIEWS_TOPIC, views(0, ["MEM", "WARNING", 75.0]))

    _, seen = await run_stage(tmp_path, body)
    assert [(a.transition, a.event["type"]) for a in seen["alerts"]] == [("opened", "MEM")]


async def test_clear_command_and_persistence_across_restart(tmp_path: Path) -> None:
    async def first_run(bus: Bus, stage: AlertStage) -> None:
        await bus.publish(VIEWS_TOPIC, views(0, ["MEM", "WARNING", 75.0]))
        await bus.publish(VIEWS_TOPIC, views(1, ["MEM", "OK", 40.0]))
        await bus.publish(VIEWS_TOPIC, views(2, ["LOAD", "CRITICAL", 99.0]))

    await run_stage(tmp_path, first_run)
    saved = orjson.loads((tmp_path / EVENTS_FILE).read_bytes())
    assert [e["type"] for e in saved["events"]] == ["LOAD", "MEM"]
    assert saved["events"][0]["end"] == -1 and saved["saved_at"] == T0

    async def second_run(bus: Bus, stage: AlertStage) -> None:
        loaded = stage.events.as_json()
        assert [e["type"] for e in loaded] == ["LOAD", "MEM"]
        # LOAD was ongoing when it stopped: closed at the last save
        assert loaded[0]["end"] == T0
        await stage.clear(critical=False)  # MEM is finished and not critical
        assert [e["type"] for e in stage.events.as_json()] == ["LOAD"]
        # LOAD fires again within min_interval of its end: the same event re-opens
        await bus.publish(VIEWS_TOPIC, views(3, ["LOAD", "CRITICAL", 99.0]))
        await settle(bus)
        (again,) = stage.events.as_json()
        assert again["end"] == -1 and again["begin"] == T0 + 2
        await stage.clear(critical=True)  # ongoing: it stays
        assert [e["type"] for e in stage.events.as_json()] == ["LOAD"]

    _, seen = await run_stage(tmp_path, second_run, **{"alert.min_interval": 6.0})
    assert [(a.transition, a.event["type"]) for a in seen["alerts"]] == [
        ("cleared", "MEM"),
        ("opened", "LOAD"),
    ]
    saved = orjson.loads((tmp_path / EVENTS_FILE).read_bytes())
    assert [e["type"] for e in saved["events"]] == ["LOAD"]


async def test_corrupt_events_file_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / EVENTS_FILE).write_bytes(b"{not json")

    async def body(bus: Bus, stage: AlertStage) -> None:
        assert stage.events.as_json() == []
        await bus.publish(VIEWS_TOPIC, views(0, ["MEM", "WARNING", 75.0]))

    await run_stage(tmp_path, body)
    aside = list(tmp_path.glob(f"{EVENTS_FILE}.corrupt-*"))  # noqa: ASYNC240 - a test
    assert len(aside) == 1 and aside[0].read_bytes() == b"{not json"
    saved = orjson.loads((tmp_path / EVENTS_FILE).read_bytes())["events"]
    assert [e["type"] for e in saved] == ["MEM"]


async def test_a_hung_disk_never_holds_up_the_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saves run in a writer task with a timeout: while the disk hangs the stage keeps
    judging (more views than its queue holds) and publishing, and it stops promptly."""
    import threading
    import time

    from pipeline.stages import alerts as alerts_module

    release = threading.Event()
    calls: list[float] = []

    def hung_write(path: Path, body: bytes) -> None:
        calls.append(time.monotonic())
        release.wait(timeout=30)

    monkeypatch.setattr(alerts_module, "_write_atomically", hung_write)
    monkeypatch.setattr(alerts_module, "SAVE_TIMEOUT", 0.5)

    async def body(bus: Bus, stage: AlertStage) -> None:
        for t in range(400):  # > the 256 views the stage queues
            state = "WARNING" if t % 2 == 0 else "OK"
            await bus.publish(VIEWS_TOPIC, views(t, ["MEM", state, 75.0]))

    started = time.monotonic()
    try:
        stage, seen = await run_stage(tmp_path, body, **{"alert.min_interval": 10.0})
    finally:
        release.set()
    (event,) = stage.events.as_json()
    assert event["count"] == 200
    assert time.monotonic() - started < 5
    assert seen["lists"][-1].data[0]["count"] == 200  # the list kept being published
    assert calls  # it did try to save


async def test_the_stage_asks_for_the_process_list_only_while_an_alert_may_tally_it(
    tmp_path: Path,
) -> None:
    """The process list is sampled on demand: the stage wants it while a logged stat is
    WARNING or CRITICAL or an event is ongoing, and forgets the last list when it stops
    wanting it, so that a later CRITICAL sample tallies no stale processes."""
    demand = Demand()
    wanted: list[bool] = []

    async def step(bus: Bus, topic: str, event: Any) -> None:
        await bus.publish(topic, event)
        await settle(bus)
        wanted.append(demand.wanted("processlist"))

    async def body(bus: Bus, stage: AlertStage) -> None:
        await step(bus, VIEWS_TOPIC, views(0, ["CPU_TOTAL", "OK", 3.0]))
        await step(bus, VIEWS_TOPIC, views(1, ["CPU_TOTAL", "WARNING", 80.0]))
        await step(bus, STATS_TOPIC, StatEvent("processlist", T0 + 1, 1, PROCS))
        await step(bus, VIEWS_TOPIC, views(2, ["CPU_TOTAL", "CRITICAL", 97.0]))
        await step(bus, VIEWS_TOPIC, views(9, ["CPU_TOTAL", "OK", 3.0]))  # closed
        # straight to CRITICAL, and CRITICAL again before any new list arrived
        await step(bus, VIEWS_TOPIC, views(30, ["MEM", "CRITICAL", 97.0]))
        await step(bus, VIEWS_TOPIC, views(31, ["MEM", "CRITICAL", 98.0]))

    stage, _ = await run_stage(tmp_path, body, demand=demand)
    assert wanted == [False, True, True, True, False, True, True]
    by_type = {e.type: e for e in stage.events.events}
    assert by_type["CPU_TOTAL"].top == ["hog", "db", "idle"]
    assert by_type["MEM"].top == []  # not the list of 30 s ago
