"""The sampler runner: cadence, backoff, timeouts, priming, status, disabled plugins.

Samplers here are synchronous fakes injected as ``SamplerSpec``s; the runner still runs
them in worker threads under its timeout, exactly as it runs the real ones.

About the clock: trio's ``autojump_clock`` jumps to the next deadline while a worker
thread is still busy, so an instant fake would race the jump (and, on a loaded machine,
"time out").  These tests run on :class:`tests.virtual_clock.VirtualClock`: the runner
starts its threads through the clock (``start_thread=``), and time only moves once every
task is blocked and every thread has reported back or is parked (a fake that hangs on
its gate, or takes virtual seconds with ``Takes``).  Whatever the machine's load, the
times asserted below are exact.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

from pipeline import codec
from pipeline import config as cfg
from pipeline import runner as runner_module
from pipeline.bus import Bus, Policy
from pipeline.demand import Demand, RuntimeOptions
from pipeline.events import StatEvent
from pipeline.plugins import PLUGINS
from pipeline.runner import PRIMING_DELAY, SLOW_AFTER, SampleContext, SamplerRunner, SamplerSpec
from pipeline.topics import STATS_TOPIC
from tests.virtual_clock import VirtualClock

EPOCH = 1_700_000_000.0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


class Hang:
    """Marker: this call blocks until the fake is released."""


@dataclass(frozen=True)
class Takes:
    """This call takes ``seconds`` of virtual time, then returns every plugin."""

    seconds: float


@dataclass(frozen=True)
class Returns:
    """This call returns ``data`` verbatim (for output that breaks the contract)."""

    data: Any


class Fake:
    """A synchronous sample function that records every call in virtual time.

    ``script(n)`` decides what call ``n`` (1-based) does: ``None`` returns every plugin,
    a set of plugin names returns all but those, an exception instance is raised,
    ``Hang`` blocks the worker thread on the gate ``self.release`` (``open()`` it),
    ``Takes(s)`` takes ``s`` virtual seconds, ``Returns(x)`` returns ``x`` as ``data``.
    The state returned by call ``n`` is ``n``.
    """

    def __init__(
        self,
        clock: VirtualClock,
        name: str,
        plugins: Iterable[str],
        script: Callable[[int], Any] = lambda n: None,
    ) -> None:
        self.clock = clock
        self.plugins = tuple(plugins)
        self.spec = SamplerSpec(name, self.plugins, self)
        self.script = script
        self.release = clock.gate()
        self.lock = threading.Lock()
        self.calls: list[tuple[float, Any]] = []  # (virtual time, previous)
        self.contexts: list[SampleContext] = []
        self.threads: list[int] = []  # the worker thread of each call

    def __call__(self, previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
        with self.lock:
            n = len(self.calls) + 1
            self.calls.append((self.clock.current_time(), previous))
            self.contexts.append(ctx)
            self.threads.append(threading.get_ident())
        action = self.script(n)
        if action is Hang:
            self.release.wait()  # bounded in real time: a broken test leaves no thread
            action = None
        if isinstance(action, Takes):
            self.clock.sleep(action.seconds)
            action = None
        if isinstance(action, BaseException):
            raise action
        if isinstance(action, Returns):
            return action.data, n
        omit = action or set()
        return {p: shaped(p, n) for p in self.plugins if p not in omit}, n

    def call_times(self, t0: float) -> list[float]:
        return [t - t0 for t, _ in self.calls]


def shaped(plugin: str, n: int) -> Any:
    """Call ``n``'s value for ``plugin``, in the plugin's shape (the runner refuses
    another): ``{"call": n}`` for a dict plugin, in a list for a list plugin."""
    kind = PLUGINS[plugin].kind
    return [{"call": n}] if kind == "list" else str(n) if kind == "value" else {"call": n}


@contextmanager
def released(*fakes: Fake) -> Iterator[None]:
    """Unblock any thread a fake still holds when the test ends, pass or fail."""
    try:
        yield
    finally:
        for fake in fakes:
            fake.release.open()


@dataclass
class Observed:
    """What a test subscriber saw on the bus, with virtual times relative to start."""

    t0: float
    stats: list[tuple[float, StatEvent]] = field(default_factory=list)
    errors: list[tuple[float, Failure]] = field(default_factory=list)

    def times(self, plugin: str) -> list[float]:
        return [t for t, e in self.stats if e.plugin == plugin]

    def seqs(self, plugin: str) -> list[int]:
        return [e.seq for _, e in self.stats if e.plugin == plugin]

    def events(self, plugin: str) -> list[StatEvent]:
        return [e for _, e in self.stats if e.plugin == plugin]

    def error_times(self, sampler: str) -> list[float]:
        return [t for t, e in self.errors if e.sampler == sampler]


@dataclass(frozen=True)
class Failure:
    """A failure as the runner logs it: ``sampler %s failed (%s, attempt %d); retrying
    in %.1f s`` (what an operator sees; ``/api/4/pipeline`` shows the counts)."""

    sampler: str
    error: str
    attempt: int
    retry_in: float


class FailureLog(logging.Handler):
    """Records the runner's failure lines, at the virtual time they were logged."""

    def __init__(self, t0: float, out: list[tuple[float, Failure]]) -> None:
        super().__init__(logging.WARNING)
        self.t0, self.out = t0, out

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("sampler %s failed"):
            assert isinstance(record.args, tuple)
            self.out.append((trio.current_time() - self.t0, Failure(*record.args)))


def every(step: float, until: float, start: float = 0.0) -> list[float]:
    out, t = [], start
    while t <= until + 1e-9:
        out.append(t)
        t += step
    return out


async def run_for(
    runner: SamplerRunner,
    bus: Bus,
    duration: float,
    *,
    during: Callable[[float], Any] | None = None,
) -> Observed:
    """Run ``runner`` for ``duration`` virtual seconds and record what it published,
    and the failures it logged.

    ``during(t0)``, if given, is started as a task alongside (to act at set times).
    """
    seen = Observed(trio.current_time())
    failures = FailureLog(seen.t0, seen.errors)
    logging.getLogger(runner_module.__name__).addHandler(failures)

    async def collect(sub: Any, out: list[Any]) -> None:
        async for event in sub:
            out.append((trio.current_time() - seen.t0, event))

    with (
        bus.subscribe(STATS_TOPIC, name="t-stats", policy=Policy.LOSSLESS, maxsize=16) as st,
        trio.fail_after(duration + 60),
    ):
        async with trio.open_nursery() as nursery:
            await nursery.start(driven_clock().drive)
            nursery.start_soon(collect, st, seen.stats)
            await nursery.start(runner.run)
            if during is not None:
                nursery.start_soon(during, seen.t0)
            await trio.sleep(duration)
            nursery.cancel_scope.cancel()
    logging.getLogger(runner_module.__name__).removeHandler(failures)
    return seen


def driven_clock() -> VirtualClock:
    """The run's clock: the test's ``clock`` fixture (pytest-trio runs the test on it)."""
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, VirtualClock), "the test must take the clock fixture"
    return clock


def make_runner(bus: Bus, config: cfg.Config, *fakes: Fake) -> SamplerRunner:
    return runner_for(fakes[0].clock, bus, config, [f.spec for f in fakes])


def runner_for(
    clock: VirtualClock,
    bus: Bus,
    config: cfg.Config,
    specs: Sequence[SamplerSpec],
    options: RuntimeOptions | None = None,
) -> SamplerRunner:
    """A runner on ``clock``: its threads started through it, its wall clock
    ``EPOCH + virtual time``."""
    return SamplerRunner(
        bus,
        config,
        specs,
        options=options,
        wall_clock=lambda: EPOCH + trio.current_time(),
        start_thread=clock.start_thread_soon,
    )


# --- cadence ---------------------------------------------------------------------------


async def test_each_family_publishes_on_its_own_interval(clock: VirtualClock) -> None:
    config = cfg.load(overrides={"cpu.refresh": 1.0, "mem.refresh": 5.0})
    cpu = Fake(clock, "cpu", ["cpu", "percpu"])  # percpu: global refresh, 2 s
    mem = Fake(clock, "memory", ["mem"])
    sensors = Fake(clock, "sensors", ["sensors"])  # reference default: 10 s
    bus = Bus()
    runner = make_runner(bus, config, cpu, mem, sensors)

    seen = await run_for(runner, bus, 20.5)

    assert seen.times("cpu") == pytest.approx(every(1.0, 20))
    # A family whose plugins have different intervals runs as one entry per interval,
    # each asked only for its own plugins: percpu keeps its own 2 s.
    assert seen.times("percpu") == pytest.approx(every(2.0, 20))
    assert seen.times("mem") == pytest.approx(every(5.0, 20))
    assert seen.times("sensors") == pytest.approx(every(10.0, 20))
    assert sorted(cpu.call_times(seen.t0)) == pytest.approx(sorted(every(1.0, 20) + every(2.0, 20)))
    asked = {tuple(sorted(ctx.enabled)) for ctx in cpu.contexts}
    assert asked == {("cpu",), ("percpu",)}
    assert {n: s.interval for n, s in runner.status.items()} == {
        "cpu[cpu]": 1.0,
        "cpu[percpu]": 2.0,
        "memory": 5.0,
        "sensors": 10.0,
    }


async def test_seq_counts_each_plugins_samples_and_ts_is_the_wall_clock(
    clock: VirtualClock,
) -> None:
    config = cfg.from_mapping(
        {"global": {"refresh": 1.0}, "mem": {"refresh": 3.0}, "memswap": {"refresh": 3.0}}
    )
    cpu = Fake(clock, "cpu", ["cpu", "percpu"])
    mem = Fake(clock, "memory", ["mem", "memswap"])
    bus = Bus()

    seen = await run_for(make_runner(bus, config, cpu, mem), bus, 9.5)

    assert seen.seqs("cpu") == list(range(1, 11))
    assert seen.seqs("percpu") == list(range(1, 11))
    assert seen.seqs("mem") == [1, 2, 3, 4]
    assert seen.seqs("memswap") == [1, 2, 3, 4]
    for t, event in seen.stats:
        assert event.ts == pytest.approx(EPOCH + seen.t0 + t)
    assert [e.data for e in seen.events("mem")] == [{"call": n} for n in range(1, 5)]


async def test_sampler_gets_back_the_state_it_returned(clock: VirtualClock) -> None:
    config = cfg.from_mapping({"global": {"refresh": 1.0}})
    cpu = Fake(clock, "cpu", ["cpu"])
    bus = Bus()

    await run_for(make_runner(bus, config, cpu), bus, 3.5)

    assert [previous for _, previous in cpu.calls] == [None, 1, 2, 3]


async def test_an_overrunning_sampler_skips_beats_instead_of_bursting(
    clock: VirtualClock,
) -> None:
    """A read that takes 2.5 s on a 1 s beat: the next read is at 3, not 1 and 2."""
    config = cfg.from_mapping({"global": {"refresh": 1.0, "sampler_timeout": 10.0}})
    slow = Fake(clock, "cpu", ["cpu"], lambda n: Hang if n == 1 else None)
    bus = Bus()

    async def finish_first_read_at_2_5(t0: float) -> None:
        await trio.sleep_until(t0 + 2.5)
        slow.release.open()

    with released(slow):
        seen = await run_for(
            make_runner(bus, config, slow), bus, 6.5, during=finish_first_read_at_2_5
        )

    assert slow.call_times(seen.t0) == pytest.approx([0, 3, 4, 5, 6])
    assert seen.times("cpu") == pytest.approx([2.5, 3, 4, 5, 6])
    assert seen.errors == []


# --- failures ----------------------------------------------------------------------------


async def test_raising_sampler_backs_off_exponentially_up_to_retry_max(
    clock: VirtualClock,
) -> None:
    config = cfg.from_mapping({"global": {"refresh": 1.0, "retry_initial": 0.5, "retry_max": 4.0}})
    broken = Fake(clock, "sensors", ["sensors"], lambda n: RuntimeError("sensor bus on fire"))
    steady = Fake(clock, "memory", ["mem"])
    bus = Bus()
    runner = make_runner(bus, config, broken, steady)

    seen = await run_for(runner, bus, 16.25)

    # Retry delays 0.5, 1, 2, 4, then capped at 4.
    expected = [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert broken.call_times(seen.t0) == pytest.approx(expected)
    assert seen.times("sensors") == []
    errors = [e for _, e in seen.errors]
    assert seen.error_times("sensors") == pytest.approx(expected)
    assert [e.attempt for e in errors] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.retry_in for e in errors] == [0.5, 1, 2, 4, 4, 4, 4]
    assert {e.error for e in errors} == {"RuntimeError: sensor bus on fire"}

    # The healthy family never missed a beat.
    assert seen.times("mem") == pytest.approx(every(1.0, 16))

    status = runner.status["sensors"]
    assert status.state == "failing"
    assert (status.runs, status.failures, status.consecutive_failures) == (0, 7, 7)
    assert status.last_error == "RuntimeError: sensor bus on fire"
    assert runner.status["memory"].state == "ok"
    assert runner.status["memory"].failures == 0
    assert runner.status["memory"].runs == 17


async def test_backoff_restarts_after_a_success(clock: VirtualClock) -> None:
    config = cfg.from_mapping({"global": {"refresh": 2.0, "retry_initial": 1.0, "retry_max": 60.0}})
    flaky = Fake(clock, "cpu", ["cpu"], lambda n: OSError("EIO") if n in (1, 2, 4) else None)
    bus = Bus()
    runner = make_runner(bus, config, flaky)

    seen = await run_for(runner, bus, 8.5)

    # fail@0 (+1) fail@1 (+2) ok@3, then back on its beat (0, 2, 4, ...): fail@4 (+1:
    # counting starts over) ok@5 ok@6 ok@8
    assert flaky.call_times(seen.t0) == pytest.approx([0, 1, 3, 4, 5, 6, 8])
    assert seen.times("cpu") == pytest.approx([3, 5, 6, 8])
    assert seen.seqs("cpu") == [1, 2, 3, 4]
    assert [(e.attempt, e.retry_in) for _, e in seen.errors] == [(1, 1.0), (2, 2.0), (1, 1.0)]
    # A failed read leaves the state of the last good one in place.
    assert [previous for _, previous in flaky.calls] == [None, None, None, 3, 3, 5, 6]

    status = runner.status["cpu"]
    assert status.state == "ok"
    assert (status.runs, status.failures, status.consecutive_failures) == (4, 3, 0)
    assert status.last_run == pytest.approx(EPOCH + seen.t0 + 8)


async def test_hung_sampler_is_abandoned_after_its_timeout_and_retried(
    clock: VirtualClock,
) -> None:
    config = cfg.from_mapping(
        {
            "global": {"refresh": 1.0, "retry_initial": 1.0, "sampler_timeout": 10.0},
            "fs": {"refresh": 5.0, "timeout": 3.0},
        }
    )
    nfs = Fake(clock, "disk", ["fs"], lambda n: Hang if n == 1 else None)
    steady = Fake(clock, "memory", ["mem"])
    bus = Bus()
    runner = make_runner(bus, config, nfs, steady)

    with released(nfs):
        seen = await run_for(runner, bus, 12.5)

    # Hangs at 0, abandoned at 3, retried 1 s later; then back on its 5 s beat (0, 5,
    # 10), which it shares with the other families.
    assert nfs.call_times(seen.t0) == pytest.approx([0, 4, 5, 10])
    assert seen.times("fs") == pytest.approx([4, 5, 10])
    assert seen.seqs("fs") == [1, 2, 3]
    assert seen.error_times("disk") == pytest.approx([3])
    (error,) = [e for _, e in seen.errors]
    assert (error.attempt, error.retry_in) == (1, 1.0)
    assert error.error.startswith("SamplerTimeout")
    assert "3 s" in error.error

    # The hang shared mem's first call: mem went on in a new call SLOW_AFTER later,
    # and kept its beat from then on.
    assert seen.times("mem") == pytest.approx([SLOW_AFTER, *every(1.0, 12, start=1.0)])

    status = runner.status["disk"]
    assert status.timeout == 3.0
    assert status.state == "ok"
    assert (status.runs, status.failures, status.consecutive_failures) == (3, 1, 0)
    assert status.last_error is not None and status.last_error.startswith("SamplerTimeout")


async def test_sampler_that_keeps_hanging_holds_at_most_two_threads(
    clock: VirtualClock,
) -> None:
    """Stuck reads are abandoned, not piled up; once unstuck, the sampler recovers."""
    config = cfg.from_mapping(
        {
            "global": {"refresh": 1.0, "retry_initial": 1.0, "retry_max": 4.0},
            "fs": {"refresh": 1.0, "timeout": 2.0},
        }
    )
    nfs = Fake(clock, "disk", ["fs"], lambda n: Hang)
    steady = Fake(clock, "memory", ["mem"])
    bus = Bus()
    runner = make_runner(bus, config, nfs, steady)

    async def unstick_at_22(t0: float) -> None:
        await trio.sleep_until(t0 + 22)
        nfs.release.open()

    with released(nfs):
        seen = await run_for(runner, bus, 26.5, during=unstick_at_22)

    # Attempts at 0, 3, 7, 13, 19 each time out 2 s later (retry 1, 2, 4, 4, 4 s);
    # only the first two reach the sampler: the family's two threads are both stuck.
    assert seen.error_times("disk") == pytest.approx([2, 5, 9, 15, 21])
    assert [e.retry_in for _, e in seen.errors] == [1, 2, 4, 4, 4]
    # Unstuck at 22: the attempt at 25 gets a thread and succeeds, then every 1 s.
    assert nfs.call_times(seen.t0) == pytest.approx([0, 3, 25, 26])
    assert seen.times("fs") == pytest.approx([25, 26])
    # The hang shared mem's first call: mem went on in a new call SLOW_AFTER later,
    # and kept its beat from then on.
    assert seen.times("mem") == pytest.approx([SLOW_AFTER, *every(1.0, 26, start=1.0)])
    assert runner.status["disk"].failures == 5
    assert runner.status["disk"].state == "ok"


@pytest.mark.parametrize(
    "bad_data",
    [
        pytest.param(Returns({"cpu": {"cores": {0, 1}}}), id="not-msgpack-encodable"),
        pytest.param(Returns(None), id="data-not-a-dict"),
    ],
)
async def test_sampler_returning_bad_data_fails_alone(
    clock: VirtualClock, bad_data: Returns
) -> None:
    """Bad sampler output is that sampler's failure: it must not stop the runner."""
    config = cfg.from_mapping({"global": {"refresh": 1.0, "retry_initial": 1.0}})
    bad = Fake(clock, "cpu", ["cpu"], lambda n: bad_data if n == 1 else None)
    steady = Fake(clock, "memory", ["mem"])
    bus = Bus()
    runner = make_runner(bus, config, bad, steady)

    seen = await run_for(runner, bus, 4.5)

    assert seen.times("mem") == pytest.approx(every(1.0, 4))
    assert seen.error_times("cpu") == pytest.approx([0])
    assert seen.errors[0][1].error.startswith("TypeError")
    # Retried after retry_initial, then on its beat; seq starts at 1 with the first
    # sample actually published.
    assert bad.call_times(seen.t0) == pytest.approx([0, 1, 2, 3, 4])
    assert seen.times("cpu") == pytest.approx([1, 2, 3, 4])
    assert seen.seqs("cpu") == [1, 2, 3, 4]
    assert runner.status["cpu"].failures == 1


# --- priming -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        # The re-samples come between the beats; the beats stay where they were (0,
        # interval, 2 interval), shared with the other families.
        (5.0, [0, PRIMING_DELAY, 2 * PRIMING_DELAY, 5, 10]),
        (0.5, [0, 0.5, 1.0, 1.5, 2.0]),  # never later than the next beat
    ],
)
async def test_missing_plugin_triggers_an_early_resample(
    clock: VirtualClock, interval: float, expected: list[float]
) -> None:
    config = cfg.from_mapping({"global": {"refresh": interval}})
    # percpu needs two readings for its rates: absent from the first two samples.
    cpu = Fake(clock, "cpu", ["cpu", "percpu"], lambda n: {"percpu"} if n <= 2 else None)
    bus = Bus()

    seen = await run_for(make_runner(bus, config, cpu), bus, expected[-1] + 0.1)

    assert cpu.call_times(seen.t0) == pytest.approx(expected)
    assert seen.times("cpu") == pytest.approx(expected)
    assert seen.seqs("cpu") == [1, 2, 3, 4, 5]
    assert seen.times("percpu") == pytest.approx(expected[2:])
    assert seen.seqs("percpu") == [1, 2, 3]


async def test_priming_and_retries_keep_the_families_on_one_call_a_round(
    clock: VirtualClock,
) -> None:
    config = cfg.from_mapping(
        {"global": {"refresh": 2.0, "retry_initial": 1.0}, "sensors": {"refresh": 10.0}}
    )
    # cpu primes once (percpu needs two readings), load fails once, sensors every 10 s
    cpu = Fake(clock, "cpu", ["cpu", "percpu"], lambda n: {"percpu"} if n == 1 else None)
    load = Fake(clock, "load", ["load"], lambda n: OSError("EIO") if n == 1 else None)
    mem = Fake(clock, "memory", ["mem"])
    sensors = Fake(clock, "sensors", ["sensors"])
    bus = Bus()
    runner = make_runner(bus, config, cpu, load, mem, sensors)

    seen = await run_for(runner, bus, 20.5)

    beats = every(2.0, 20)  # 0, 2, ..., 20
    assert cpu.call_times(seen.t0) == pytest.approx([0, 1, *beats[1:]])
    assert load.call_times(seen.t0) == pytest.approx([0, 1, *beats[1:]])
    assert mem.call_times(seen.t0) == pytest.approx(beats)
    assert sensors.call_times(seen.t0) == pytest.approx([0, 10, 20])
    # one worker-thread call a beat, plus the one at 1 s for the priming and the retry
    # (before the beat was kept, cpu and load stayed 1 s off it: 21 calls, not 12)
    assert runner.thread_calls == len(beats) + 1


# --- disabled plugins --------------------------------------------------------------------


async def test_disabled_plugins_are_not_published(clock: VirtualClock) -> None:
    config = cfg.from_mapping(
        {
            "global": {"refresh": 1.0},
            "percpu": {"disable": True},
            "uptime": {"disable": True},
            "system": {"refresh": 3.0},
        }
    )
    cpu = Fake(clock, "cpu", ["cpu", "percpu"])  # returns percpu anyway
    # Never returns the disabled "uptime": that is not priming, no early re-sample.
    system = Fake(clock, "system", ["system", "uptime"], lambda n: {"uptime"})
    bus = Bus()
    runner = make_runner(bus, config, cpu, system)

    seen = await run_for(runner, bus, 6.5)

    assert {e.plugin for _, e in seen.stats} == {"cpu", "system"}
    assert seen.times("cpu") == pytest.approx(every(1.0, 6))
    assert system.call_times(seen.t0) == pytest.approx([0, 3, 6])
    assert seen.times("system") == pytest.approx([0, 3, 6])
    ctx = cpu.contexts[0]
    assert "cpu" in ctx.enabled and "percpu" not in ctx.enabled and "uptime" not in ctx.enabled


async def test_family_with_every_plugin_disabled_is_not_run(
    clock: VirtualClock,
) -> None:
    config = cfg.from_mapping(
        {"global": {"refresh": 1.0}, "mem": {"disable": True}, "memswap": {"disable": True}}
    )
    memory = Fake(clock, "memory", ["mem", "memswap"])
    load = Fake(clock, "load", ["load"])
    bus = Bus()
    runner = make_runner(bus, config, memory, load)

    seen = await run_for(runner, bus, 3.5)

    assert memory.calls == []
    assert set(runner.status) == {"load"}
    assert {e.plugin for _, e in seen.stats} == {"load"}
    assert seen.times("load") == pytest.approx(every(1.0, 3))


async def test_family_interval_ignores_disabled_plugins(
    clock: VirtualClock,
) -> None:
    # diskio would set a 1 s beat; disabled, the family runs at fs's own 4 s.
    config = cfg.from_mapping({"diskio": {"refresh": 1.0, "disable": True}, "fs": {"refresh": 4.0}})
    disk = Fake(clock, "disk", ["diskio", "fs"])
    bus = Bus()
    runner = make_runner(bus, config, disk)

    seen = await run_for(runner, bus, 8.5)

    assert runner.status["disk"].interval == 4.0
    assert seen.times("fs") == pytest.approx([0, 4, 8])
    assert seen.times("diskio") == []


# --- status --------------------------------------------------------------------------------


async def test_status_before_and_after_the_first_run(clock: VirtualClock) -> None:
    config = cfg.from_mapping(
        {"global": {"refresh": 2.0, "sampler_timeout": 7.0}, "percpu": {"timeout": 9.0}}
    )

    def busy_20_ms(n: int) -> None:
        time.sleep(0.02)  # real time, in the worker thread (virtual time stands still)

    cpu = Fake(clock, "cpu", ["cpu", "percpu"], busy_20_ms)
    bus = Bus()
    runner = make_runner(bus, config, cpu)

    before = runner.status["cpu"].as_dict()
    assert before["state"] == "starting"
    assert before["plugins"] == ["cpu", "percpu"]
    assert (before["interval"], before["timeout"]) == (2.0, 9.0)  # longest timeout
    assert (before["runs"], before["failures"], before["last_run"]) == (0, 0, None)

    seen = await run_for(runner, bus, 4.5)

    after = runner.status["cpu"].as_dict()
    assert after["state"] == "ok"
    assert (after["runs"], after["failures"], after["last_error"]) == (3, 0, None)
    assert after["last_run"] == pytest.approx(EPOCH + seen.t0 + 4)
    # real seconds spent in the sampler (this fake takes at least 20 ms of them)
    assert after["last_duration"] is not None and after["last_duration"] >= 0.02


# --- grouping and slow families ---------------------------------------------------------


async def test_families_due_together_share_one_thread_call(
    clock: VirtualClock,
) -> None:
    config = cfg.load(overrides={"global.refresh": 1.0, "mem.refresh": 2.0})
    cpu = Fake(clock, "cpu", ["cpu"])
    mem = Fake(clock, "memory", ["mem"])
    load = Fake(clock, "load", ["load"])
    bus = Bus()
    runner = make_runner(bus, config, cpu, mem, load)

    seen = await run_for(runner, bus, 10.5)

    assert seen.times("cpu") == pytest.approx(every(1.0, 10))
    assert seen.times("mem") == pytest.approx(every(2.0, 10))
    # 11 ticks (0..10 s): one call each, whatever number of families is due.
    assert runner.thread_calls == 11
    # Within a tick the families ran one after the other on the same thread.
    threads = {t for f in (cpu, mem, load) for t in f.threads[:1]}
    assert len(threads) == 1


async def test_a_calls_families_are_published_in_one_hand_over(
    clock: VirtualClock,
) -> None:
    """Every family of one call reaches a subscriber in one burst (one wake-up for the
    round), in the order the families ran; a failing family's error comes after."""
    config = cfg.load(overrides={"global.refresh": 1.0})
    cpu = Fake(clock, "cpu", ["cpu", "percpu"])
    mem = Fake(clock, "memory", ["mem"], script=lambda n: RuntimeError("boom") if n == 2 else None)
    load = Fake(clock, "load", ["load"])
    bus = Bus()
    runner = make_runner(bus, config, cpu, mem, load)
    bursts: list[list[str]] = []
    with (
        bus.subscribe(STATS_TOPIC, name="t", policy=Policy.LOSSLESS, maxsize=64) as sub,
        trio.fail_after(60),
    ):
        async with trio.open_nursery() as nursery:
            await nursery.start(clock.drive)

            async def take() -> None:
                async for batch in sub.batches():
                    bursts.append([codec.decode(r).plugin for r in batch])

            nursery.start_soon(take)
            await nursery.start(runner.run)
            await trio.sleep(1.5)
            nursery.cancel_scope.cancel()
    assert bursts == [["cpu", "percpu", "mem", "load"], ["cpu", "percpu", "load"]]


async def test_slow_family_moves_to_its_own_thread_without_failing(
    clock: VirtualClock,
) -> None:
    """A family still busy SLOW_AFTER into a shared call finishes on its own thread;
    the families queued behind it go on at once, and nothing counts as a failure."""
    config = cfg.load(overrides={"global.refresh": 1.0})
    slow = Fake(clock, "processes", ["processlist"], lambda n: Hang if n == 1 else None)
    after = Fake(clock, "memory", ["mem"])
    bus = Bus()
    runner = make_runner(bus, config, slow, after)
    calls: list[weakref.ref[Any]] = []
    make_call = runner._call

    def call(names: Sequence[str]) -> Any:
        made = make_call(names)
        calls.append(weakref.ref(made))
        return made

    runner._call = call  # type: ignore[method-assign]
    first_call_kept: list[bool] = []

    async def release_at_2(t0: float) -> None:
        await trio.sleep_until(t0 + 2)
        slow.release.open()
        await trio.sleep_until(t0 + 4.5)
        gc.collect()
        first_call_kept.append(calls[0]() is not None)

    with released(slow):
        seen = await run_for(runner, bus, 5.5, during=release_at_2)

    # The call the slow family was detached from (its samples, its states) is not kept
    # by the family's own task once done with (it was, for the life of the task).
    assert first_call_kept == [False]

    # mem was queued behind the slow call: it ran SLOW_AFTER later, then on its beat.
    assert seen.times("mem") == pytest.approx([SLOW_AFTER, *every(1.0, 5, start=1.0)])
    # The slow first sample still arrived (at 2 s, well within its 10 s timeout) ...
    assert seen.times("processlist")[0] == pytest.approx(2.0, abs=0.1)
    status = runner.status["processes"]
    assert status.solo is True
    assert (status.failures, status.state) == (0, "ok")
    assert seen.errors == []
    # ... and the family keeps its own thread calls on its beat afterwards.
    assert seen.times("processlist")[1:] == pytest.approx(every(1.0, 5, start=3.0))


async def test_only_a_family_slow_by_itself_is_detached(clock: VirtualClock) -> None:
    """A call of several moderately slow families takes longer than SLOW_AFTER in all,
    but none of them alone does; only the one that does is detached."""
    short = 0.6 * SLOW_AFTER
    config = cfg.load(overrides={"global.refresh": 1.0})
    fakes = [
        Fake(clock, "cpu", ["cpu"], lambda n: Takes(short)),
        Fake(clock, "memory", ["mem"], lambda n: Takes(short)),
        Fake(clock, "load", ["load"], lambda n: Takes(short)),
        Fake(clock, "disk", ["fs"], lambda n: Takes(2.5 * SLOW_AFTER)),
        Fake(clock, "system", ["uptime"], lambda n: Takes(short)),
    ]
    bus = Bus()
    runner = make_runner(bus, config, *fakes)

    seen = await run_for(runner, bus, 2.5)

    solo = {name for name, status in runner.status.items() if status.solo}
    assert solo == {"disk"}
    assert all(status.failures == 0 for status in runner.status.values())
    assert seen.errors == []
    # cpu, mem and load ran one after the other (0.15 s each), then fs from 0.45 s: the
    # checks every SLOW_AFTER saw mem (0.25 s), fs (0.5 s), fs again (0.75 s: detached,
    # the call's samples published); uptime, queued behind fs, went on at once in a new
    # call; at 1 s the four shared families took 0.6 s in one call
    assert seen.times("cpu") == pytest.approx([3 * SLOW_AFTER, 1 + 4 * short])
    assert seen.times("mem") == seen.times("load") == seen.times("cpu")
    assert seen.times("uptime") == pytest.approx([3 * SLOW_AFTER + short, 1 + 4 * short])
    # fs finished on its own thread after its 0.625 s, and kept a thread of its own
    assert seen.times("fs")[0] == pytest.approx(3 * short + 2.5 * SLOW_AFTER)


async def test_hide_and_show_filter_list_items(clock: VirtualClock) -> None:
    def nics(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
        names = ["lo", "eth0", "docker0", "veth12", "wlan0"]
        return {"network": [{"interface_name": n, "key": "interface_name"} for n in names]}, 1

    for options, expected in (
        ({"hide": ["docker.*", "VETH.*", "lo"]}, ["eth0", "wlan0"]),
        ({"hide": ["docker.*"], "show": ["eth0", "lo"]}, ["lo", "eth0"]),  # show wins
        ({}, ["lo", "eth0", "docker0", "veth12", "wlan0"]),
    ):
        config = cfg.from_mapping({"network": options})
        bus = Bus()
        runner = runner_for(clock, bus, config, [SamplerSpec("network", ("network",), nics)])
        seen = await run_for(runner, bus, 0.5)
        assert [e["interface_name"] for e in seen.stats[0][1].data] == expected, options


async def test_aliases_are_published_and_matched_by_hide(clock: VirtualClock) -> None:
    def nics(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
        names = ["lo", "eth0", "eth1"]
        entries = [{"interface_name": n, "key": "interface_name", "alias": None} for n in names]
        return {"network": entries}, 1

    config = cfg.from_mapping({"network": {"alias": "eth0:WAN,eth1:LAN", "hide": ["lan"]}})
    bus = Bus()
    runner = runner_for(clock, bus, config, [SamplerSpec("network", ("network",), nics)])
    seen = await run_for(runner, bus, 0.5)
    published = [(e["interface_name"], e["alias"]) for e in seen.stats[0][1].data]
    assert published == [("lo", None), ("eth0", "WAN")]


# --- plugins sampled on demand -------------------------------------------------------------


class AsksOnly(Fake):
    """Produces only the plugins the context asks for, as the real families do."""

    def __call__(self, previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
        data, n = super().__call__(previous, ctx)
        return {p: v for p, v in data.items() if p in ctx.enabled}, n


async def test_the_process_lists_are_sampled_only_while_someone_reads_them(
    clock: VirtualClock,
) -> None:
    config = cfg.from_mapping({"global": {"refresh": 1.0}})
    family = ["processcount", "processlist", "programlist"]
    procs = AsksOnly(clock, "processes", family)
    bus = Bus()
    options = RuntimeOptions()
    runner = runner_for(clock, bus, config, [procs.spec], options)

    async def reader(t0: float) -> None:
        await trio.sleep_until(t0 + 2.5)
        options.demand.want("alerts", ["processlist"])
        await trio.sleep_until(t0 + 4.5)
        options.demand.want("alerts", [])

    seen = await run_for(runner, bus, 6.5, during=reader)

    asked = [set(ctx.enabled) for ctx in procs.contexts]
    assert (
        asked
        == [{"processcount"}] * 3 + [{"processcount", "processlist"}] * 2 + [{"processcount"}] * 2
    )
    # a plugin nobody asked for is not "missing": no early re-sample, the cadence holds
    assert procs.call_times(seen.t0) == pytest.approx(every(1.0, 6))
    assert seen.times("processlist") == pytest.approx([3.0, 4.0])
    assert seen.times("programlist") == []
    assert seen.times("processcount") == pytest.approx(every(1.0, 6))


async def test_demand_always_and_per_reader(clock: VirtualClock) -> None:
    demand = Demand()
    assert not demand.wanted("processlist")
    demand.want("alerts", ["processlist"])
    demand.want("stream", ["processlist", "programlist"])
    demand.want("alerts", [])
    assert demand.wanted("processlist") and demand.wanted("programlist")
    demand.want("stream", ())
    assert (demand.wanted("processlist"), demand.wanted("programlist")) == (False, False)
    demand.always(["programlist"])
    assert (demand.wanted("processlist"), demand.wanted("programlist")) == (False, True)


async def test_an_empty_value_is_published_once_until_it_changes(
    clock: VirtualClock,
) -> None:
    """No container, no GPU: the first [] is published (every stage then holds it), the
    same [] again is not; a change is, and [] again after it is, once."""
    values = {1: [], 2: [], 3: [], 4: [{"name": "web", "key": "name"}], 5: [], 6: []}
    fake = Fake(
        clock, "containers", ["containers"], lambda n: Returns({"containers": values.get(n, [])})
    )
    config = cfg.load(overrides={"containers.refresh": 1.0})
    bus = Bus()

    seen = await run_for(make_runner(bus, config, fake), bus, 5.5)

    assert len(fake.calls) == 6
    assert [e.data for e in seen.events("containers")] == [
        [], [{"name": "web", "key": "name"}], []
    ]  # fmt: skip
    assert seen.seqs("containers") == [1, 2, 3]


async def test_names_that_are_not_utf8_are_published_with_replacement_characters(
    clock: VirtualClock,
) -> None:
    """A process started as ``exec -a $'sl\\xffeep'``: its name, read with
    surrogateescape as psutil reads it, cannot be encoded; the sample is published with
    U+FFFD in its place instead of failing the family for as long as the process lives."""
    name = b"sl\xffeep".decode("utf-8", "surrogateescape")
    entry = {"key": "name", "name": name, "cmdline": [name, "4"], "count": 1}
    fake = Fake(clock, "programs", ["programlist"], lambda n: Returns({"programlist": [entry]}))
    bus = Bus()

    seen = await run_for(make_runner(bus, cfg.Config(), fake), bus, 1.5)

    (event, *_) = seen.events("programlist")
    assert event.data == [
        {"key": "name", "name": "sl\ufffdeep", "cmdline": ["sl\ufffdeep", "4"], "count": 1}
    ]
    assert seen.errors == []
