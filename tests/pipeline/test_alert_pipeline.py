"""The alert lifecycle through the real stages: a fake cpu sampler on the runner, the
threshold stage judging it, the alert stage keeping the events list, in virtual time
(:class:`tests.virtual_clock.VirtualClock`: the runner's worker threads are counted, so
time moves only once a round is in; the alert stage keeps no file, so no other thread
runs)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from pipeline import config as cfg
from pipeline.bus import Bus, Policy
from pipeline.runner import SampleContext, SamplerRunner, SamplerSpec
from pipeline.stages.alerts import AlertStage
from pipeline.stages.thresholds import ThresholdStage
from pipeline.topics import ALERTS_TOPIC
from tests.virtual_clock import VirtualClock

EPOCH = 1_800_000_000.0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def cpu_totals(script: dict[int, float]) -> SamplerSpec:
    """cpu.total follows ``script`` (second -> value, held until the next change)."""

    def sample(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
        second = 0 if previous is None else previous + 1
        value = script[max(t for t in script if t <= second)]
        cpu = {"total": value, "user": 1.0, "system": 1.0, "iowait": 0.0, "cpucore": 2,
               "time_since_update": 1.0}  # fmt: skip
        return {"cpu": cpu}, second

    return SamplerSpec("cpu", ("cpu",), sample)


async def test_cpu_total_event_lifecycle_through_the_stages(
    clock: VirtualClock,
) -> None:
    config = cfg.from_mapping(
        {
            "global": {"refresh": 1.0},
            "cpu": {"total_careful": 50, "total_warning": 70, "total_critical": 90},
            "alert": {"min_duration": 6, "min_interval": 6},
        }
    )
    # 0-9 s idle, 10-14 s warning, 15-19 s critical, 20 s back to idle;
    # 30-32 s a short spike (deleted: shorter than min_duration).
    script = {0: 10.0, 10: 75.0, 15: 95.0, 20: 10.0, 30: 80.0, 33: 10.0}
    bus = Bus()
    thresholds = ThresholdStage(bus, config, ["cpu"], ncpu=2)
    alerts = AlertStage(bus, config, None, wall_clock=lambda: EPOCH + trio.current_time())
    runner = SamplerRunner(
        bus,
        config,
        [cpu_totals(script)],
        wall_clock=lambda: EPOCH + trio.current_time(),
        start_thread=clock.start_thread_soon,
    )
    transitions: list[tuple[float, str, str]] = []
    lists: dict[int, list[dict[str, Any]]] = {}

    async def watch(sub: Any) -> None:
        async for event in sub:
            transitions.append((trio.current_time() - t0, event.transition, event.event["state"]))

    async def snapshot_at(seconds: list[int]) -> None:
        for s in seconds:
            await trio.sleep_until(t0 + s + 0.5)
            lists[s] = alerts.events.as_json()

    with (
        trio.fail_after(120),
        bus.subscribe(ALERTS_TOPIC, name="t", policy=Policy.LOSSLESS) as sub,
    ):
        async with trio.open_nursery() as nursery:
            await nursery.start(clock.drive)
            nursery.start_soon(watch, sub)
            await nursery.start(alerts.run)
            await nursery.start(thresholds.run)
            t0 = trio.current_time()
            await nursery.start(runner.run)
            await snapshot_at([12, 17, 25, 31, 36])
            nursery.cancel_scope.cancel()

    assert [(round(t), tr, st) for t, tr, st in transitions] == [
        (10, "opened", "WARNING"),
        (15, "escalated", "CRITICAL"),
        (20, "closed", "CRITICAL"),
        (30, "opened", "WARNING"),
        (33, "closed", "WARNING"),  # too short: closed and deleted
    ]
    (ongoing,) = lists[12]
    assert ongoing["type"] == "CPU_TOTAL" and ongoing["end"] == -1
    assert ongoing["begin"] == int(EPOCH + 10) and ongoing["count"] == 3
    assert lists[17][0]["state"] == "CRITICAL" and lists[17][0]["max"] == 95.0
    (closed,) = lists[25]
    assert closed["end"] == int(EPOCH + 20) and closed["count"] == 10
    assert closed["avg"] == (5 * 75.0 + 5 * 95.0) / 10
    assert len(lists[31]) == 2  # the spike is listed while it lasts ...
    assert [e["begin"] for e in lists[36]] == [int(EPOCH + 10)]  # ... and deleted after
