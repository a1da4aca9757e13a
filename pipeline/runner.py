"""Runs every sampler family on its own refresh interval.

Families that are due at the same moment are sampled **together, in one worker-thread
call**, one after the other.  Handing work to a thread and back costs the trio thread
far more than the hand-off itself suggests (measured: with one call per family, the
trio thread spent ~0.45 ms per family per round, more than a third of the whole
pipeline's CPU); one call per tick brings the pipeline close to the cost of the bare
psutil reads.  See docs/architecture.md.

Isolation is kept:

* a family that **raises** is logged, counted (``status``: ``/api/4/pipeline``), and
  retried after an exponential backoff (``retry_initial * 2**(n-1)``, capped at
  ``retry_max``: :mod:`pipeline.backoff`); the others in the same call are unaffected;
* a family that is **slow** (still running ``SLOW_AFTER`` seconds into its call) is
  detached: the call is told to stop after it, what finished before it is published, the
  families after it go on at once in a new call, and the slow family finishes on a
  thread **of its own**, under its own ``timeout``.  It keeps a thread of its own from
  then on.  So a hung family delays the others once, by at most ``SLOW_AFTER``;
* a family that **hangs** past its timeout is abandoned (its thread is left to finish
  on its own, its late result discarded) and retried with backoff; it never has more
  than ``MAX_THREADS_PER_FAMILY`` threads stuck at once, so a sampler stuck for ever (a
  stale NFS mount) cannot pile up threads.

Before a list plugin's entries are published, the runner applies the plugin's ``hide`` /
``show`` and ``alias`` options (:func:`pipeline.plugins.items.item_rules`), the same way
for every plugin, so a sampler does not have to (docs/plugins/options.md).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from pipeline import codec
from pipeline.backoff import exponential
from pipeline.bus import Bus
from pipeline.config import Config
from pipeline.demand import RuntimeOptions
from pipeline.events import StatEvent
from pipeline.plugins import ON_DEMAND, PLUGINS
from pipeline.plugins.items import item_rules, valid_text, wrong_shape
from pipeline.topics import STATS_TOPIC

log = logging.getLogger(__name__)


#: after a priming round (some plugin not ready yet) sample again after at most this
PRIMING_DELAY = 1.0
#: a family still running this long into a shared call is moved to a thread of its own
SLOW_AFTER = 0.25
#: threads one (solo) family may have stuck in abandoned calls at once
MAX_THREADS_PER_FAMILY = 2


@dataclass(frozen=True, slots=True)
class SampleContext:
    config: Config
    enabled: frozenset[str]
    #: pid whose extended stats are requested through the API (None: none)
    extended_pid: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


SampleFn = Callable[[Any, SampleContext], tuple[dict[str, Any], Any]]


@dataclass(frozen=True, slots=True)
class SamplerSpec:
    """One sampler family: the plugins it produces and the function producing them."""

    name: str
    plugins: tuple[str, ...]
    sample: SampleFn


class SamplerTimeout(Exception):
    pass


@dataclass
class SamplerStatus:
    """What the runner knows of one family, for ``/api/4/pipeline`` and the logs."""

    name: str
    plugins: tuple[str, ...]
    interval: float
    timeout: float
    state: str = "starting"  # starting | ok | failing
    #: True once the family was slow and moved to a thread of its own
    solo: bool = False
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_run: float | None = None
    #: seconds the last successful sample took (real time, in its worker thread)
    last_duration: float | None = None
    last_error: str | None = None
    #: seconds it waits after its latest failure before the next attempt (``None``
    #: while it is not failing)
    backoff: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self), plugins=list(self.plugins))


Outcome = tuple[dict[str, Any], Any] | BaseException
#: how a call's worker thread is started: ``trio.lowlevel.start_thread_soon(fn, deliver)``
#: (tests inject one that tells their virtual clock when the thread is busy)
StartThread = Callable[[Callable[[], Any], Callable[[Any], object]], None]


@dataclass(eq=False)
class _Call:
    """One worker thread sampling one or more families in turn.

    Shared with the thread, which appends ``(name, outcome, seconds)`` to ``results`` as
    each family finishes.  The thread claims each next family under ``_lock``, and
    :meth:`halt` stops it under the same lock, so the trio side always knows exactly
    which family the thread is in and that it will start no other.  ``done`` is set (in
    the trio thread) when the thread has returned.  The thread reaches trio only through
    ``token.run_sync_soon``, which is safe from any thread, even after the call was
    given up.
    """

    jobs: list[tuple[SamplerSpec, Any, SampleContext]]
    token: trio.lowlevel.TrioToken
    start_thread: StartThread = trio.lowlevel.start_thread_soon
    results: list[tuple[str, Outcome, float]] = field(default_factory=list)
    done: trio.Event = field(default_factory=trio.Event)
    _running: int = -1  # index of the job the thread has claimed last
    _stop: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.start_thread(self._run, self._deliver)

    @property
    def running(self) -> int:
        """Index of the job in hand (or last finished); -1 before the first."""
        return self._running

    def halt(self) -> str | None:
        """Start no further job; the name of the job still in hand, if any."""
        with self._lock:
            self._stop = True
            index = self._running
        if index < 0 or len(self.results) > index:
            return None
        return self.jobs[index][0].name

    def _claim(self, index: int) -> bool:
        with self._lock:
            if self._stop:
                return False
            self._running = index
            return True

    def _run(self) -> None:
        for index, (spec, state, ctx) in enumerate(self.jobs):
            if not self._claim(index):
                break
            started = time.perf_counter()
            outcome: Outcome
            try:
                outcome = spec.sample(state, ctx)
            except Exception as exc:  # noqa: BLE001 - reported to the trio side
                outcome = exc
            self.results.append((spec.name, outcome, time.perf_counter() - started))

    def _deliver(self, _outcome: Any) -> None:  # in the worker thread, after _run
        try:
            self.token.run_sync_soon(self.done.set)
        except trio.RunFinishedError:
            pass  # trio is gone (shutdown): nobody is waiting any more

    async def wait_result(self, name: str) -> tuple[Outcome, float] | None:
        """Wait for the thread to end; ``name``'s result, or ``None`` if it has none.

        Waiting for the end is enough: a call is only ever waited on for its last job
        (a solo call has one; a shared call is halted before its slow job is handed
        over), so the trio thread is woken once per call, not once per family.
        """
        await self.done.wait()
        for got, outcome, seconds in self.results:
            if got == name:
                return outcome, seconds
        return None


class SamplerRunner:
    def __init__(
        self,
        bus: Bus,
        config: Config,
        specs: Sequence[SamplerSpec],
        *,
        options: RuntimeOptions | None = None,
        wall_clock: Callable[[], float] = time.time,
        start_thread: StartThread = trio.lowlevel.start_thread_soon,
    ) -> None:
        self._bus = bus
        self._start_thread = start_thread
        self._config = config
        self._options = options or RuntimeOptions()
        self._wall_clock = wall_clock
        enabled = set(config.enabled_plugins())
        self._enabled = frozenset(enabled)
        # A family whose enabled plugins have different refresh intervals runs as one
        # entry per interval (``memory[memswap]``), each with its own state, so every
        # plugin keeps its own interval and its deltas span exactly that interval.
        self._specs: dict[str, SamplerSpec] = {}
        self._wants: dict[str, frozenset[str]] = {}
        for spec in specs:
            by_interval: dict[float, list[str]] = {}
            for plugin in spec.plugins:
                if plugin in enabled:
                    by_interval.setdefault(config.refresh_of(plugin), []).append(plugin)
            for plugins in by_interval.values():
                name = spec.name if len(by_interval) == 1 else f"{spec.name}[{','.join(plugins)}]"
                self._specs[name] = SamplerSpec(name, tuple(plugins), spec.sample)
                self._wants[name] = frozenset(plugins)
        self._seq: dict[str, int] = {}
        #: plugins whose last published value was their empty value
        self._empty_sent: set[str] = set()
        #: the hide/show filter and the aliases of each list plugin that has any
        self._items = {
            p: items
            for p in enabled
            if PLUGINS[p].sampled and (items := item_rules(p, config)) is not None
        }
        self._states: dict[str, Any] = {name: None for name in self._specs}
        self._due: dict[str, float] = {}
        #: every family's regular beat is ``start + k * interval`` (``_beats[name]`` is
        #: its k): families whose intervals divide one another share their ticks, so a
        #: round is one worker-thread call, and a priming re-sample or a retry after a
        #: failure comes back to the beat instead of shifting it
        self._start = 0.0
        self._beats: dict[str, int] = {}
        #: worker-thread calls started so far (one per tick while nothing is slow)
        self.thread_calls = 0
        self.status: dict[str, SamplerStatus] = {
            name: SamplerStatus(
                name,
                spec.plugins,
                interval=config.refresh_of(spec.plugins[0]),
                timeout=max(config.timeout_of(p) for p in spec.plugins),
            )
            for name, spec in self._specs.items()
        }

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        start = self._start = trio.current_time()
        self._due = {name: start for name in self._specs}
        self._beats = dict.fromkeys(self._specs, 0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._schedule, nursery, name="sampler-scheduler")
            task_status.started()

    def _wanted(self, name: str) -> frozenset[str]:
        """The family's enabled plugins, less the on-demand ones nobody reads now."""
        wants = self._wants[name]
        if wants & ON_DEMAND:
            demand = self._options.demand
            wants = frozenset(p for p in wants if p not in ON_DEMAND or demand.wanted(p))
        return wants

    def _call(self, names: Sequence[str]) -> _Call:
        pid = self._options.extended_pid
        jobs = [
            (self._specs[n], self._states[n], SampleContext(self._config, self._wanted(n), pid))
            for n in names
        ]
        call = _Call(jobs, trio.lowlevel.current_trio_token(), self._start_thread)
        call.start()
        self.thread_calls += 1
        return call

    # -- the shared schedule ---------------------------------------------------------

    async def _schedule(self, nursery: trio.Nursery) -> None:
        while True:
            shared = [n for n in self._specs if not self.status[n].solo]
            if not shared:
                return
            now = trio.current_time()
            due = [n for n in shared if self._due[n] <= now]
            if not due:
                await trio.sleep_until(min(self._due[n] for n in shared))
                continue
            call = self._call(due)
            slow = await self._watch(call)
            await self._settle(list(call.results))
            if slow is not None:
                log.info("sampler %s is slow; moving it to a thread of its own", slow)
                self.status[slow].solo = True
                nursery.start_soon(self._run_solo, slow, call, name=f"sampler:{slow}")
            # Families the call did not reach stay due: the next pass runs them at once.

    @staticmethod
    async def _watch(call: _Call) -> str | None:
        """Wait for a shared call; the family to detach if one has been in hand for
        ``SLOW_AFTER`` (it was in hand at two checks ``SLOW_AFTER`` apart, or at the first
        check while still the call's first job)."""
        seen = 0  # the call starts with job 0 in hand
        while True:
            with trio.move_on_after(SLOW_AFTER):
                await call.done.wait()
            if call.done.is_set():
                return None
            if call.running == seen:
                return call.halt()
            seen = call.running

    # -- a family on a thread of its own -----------------------------------------------

    async def _run_solo(self, name: str, inherited: _Call | None = None) -> None:
        status = self.status[name]
        stuck: set[_Call] = set()  # abandoned calls whose thread has not returned yet
        started = trio.current_time() - (SLOW_AFTER if inherited else 0.0)
        # not kept in ``inherited`` for the task's life: a call holds its round's samples
        # and states (a stale round's worth of process objects, for ever)
        call, inherited = inherited, None
        while True:
            if call is None:
                await trio.sleep_until(self._due[name])
                started = trio.current_time()
                stuck = {c for c in stuck if not c.done.is_set()}
                if len(stuck) < MAX_THREADS_PER_FAMILY:
                    call = self._call([name])
            result = None
            with trio.move_on_after(max(0.0, started + status.timeout - trio.current_time())):
                if call is None:  # no thread to spare: this attempt times out
                    await trio.sleep_forever()
                result = await call.wait_result(name)
            if result is None:
                if call is not None and not call.done.is_set():
                    call.halt()
                    stuck.add(call)
                await self._settle([(name, _timeout(status.timeout), status.timeout)])
            else:
                await self._settle([(name, *result)])
            call = None

    # -- results -------------------------------------------------------------------------

    async def _settle(self, results: Sequence[tuple[str, Outcome, float]]) -> None:
        """Publish the results of one call, all families' samples at once (in the order
        the families finished), and count the failures."""
        raws: list[bytes] = []
        for name, outcome, seconds in results:
            self._settled(name, outcome, seconds, raws)
        # One hand-over for the round: subscribers wake once for all its samples.
        if raws:
            await self._bus.publish_many(STATS_TOPIC, raws)

    def _settled(self, name: str, outcome: Outcome, seconds: float, raws: list[bytes]) -> None:
        """Take a family's result (its samples go to ``raws``), or count its failure; set
        when it is due next."""
        spec, status = self._specs[name], self.status[name]
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            data, new_state = outcome
            # Output that breaks the contract (not a dict, or values msgpack cannot
            # carry) is this sampler's failure; it must not take the runner down.
            batch = self._encode(spec, data)
        except Exception as exc:  # noqa: BLE001 - any sampler failure is isolated here
            self._failed(status, exc)
            return
        self._states[name] = new_state
        status.runs += 1
        status.consecutive_failures = 0
        status.backoff = None
        status.state = "ok"
        status.last_run = self._wall_clock()
        status.last_duration = seconds
        for plugin, (seq, raw, empty) in batch.items():
            if raw is None:  # its empty value again: not published
                continue
            self._seq[plugin] = seq
            raws.append(raw)
            if empty:
                self._empty_sent.add(plugin)
            else:
                self._empty_sent.discard(plugin)
        # a plugin asked for but not produced (a rate's first reading): sample again soon,
        # but never later than the next beat
        missing = any(p not in batch for p in self._wanted(name))
        due = self._next_beat(name, status.interval)
        if missing:
            step = min(status.interval, PRIMING_DELAY)
            now = trio.current_time()
            priming = self._due[name] + step
            due = min(due, priming if priming > now else now + step)
        self._due[name] = due

    def _next_beat(self, name: str, interval: float) -> float:
        """The family's first beat after now (one that overran is skipped, not burst)."""
        now = trio.current_time()
        k = self._beats.get(name, 0)
        beat = self._start + k * interval
        if beat <= now:
            k += math.floor((now - beat) / interval) + 1
            beat = self._start + k * interval
            if beat <= now:  # rounding
                k += 1
                beat = self._start + k * interval
        self._beats[name] = k
        return beat

    def _failed(self, status: SamplerStatus, exc: BaseException) -> None:
        g = self._config.global_
        status.failures += 1
        status.consecutive_failures += 1
        status.state = "failing"
        status.last_error = _describe(exc)
        delay = exponential(status.consecutive_failures, g.retry_initial, g.retry_max)
        status.backoff = delay
        log.warning(
            "sampler %s failed (%s, attempt %d); retrying in %.1f s",
            status.name,
            status.last_error,
            status.consecutive_failures,
            delay,
            exc_info=exc if not isinstance(exc, SamplerTimeout) else None,
        )
        self._due[status.name] = trio.current_time() + delay

    def _encode(self, spec: SamplerSpec, data: Any) -> dict[str, tuple[int, bytes | None, bool]]:
        """``{plugin: (seq, encoded StatEvent, empty)}`` for this round; raises on bad
        data.

        A plugin whose value is its empty value (``[]``: no container, no GPU, nothing
        configured) again is not published again (``None``): every stage already holds
        that value, and the reference's exporters send nothing for an empty plugin.
        This is most of what the plugins with nothing to report would cost."""
        if not isinstance(data, Mapping):
            raise TypeError(f"sampler returned {type(data).__name__}, not a dict of plugins")
        ts = self._wall_clock()
        batch: dict[str, tuple[int, bytes | None, bool]] = {}
        for plugin in spec.plugins:
            if plugin not in self._enabled or plugin not in data:
                continue
            seq = self._seq.get(plugin, 0) + 1
            value = data[plugin]
            wrong = wrong_shape(plugin, value)
            if wrong is not None:
                raise TypeError(f"{plugin}: {wrong}")
            items = self._items.get(plugin)
            if items is not None and isinstance(value, list):
                value = items(value)
            empty = not value and value == PLUGINS[plugin].empty()
            if empty and plugin in self._empty_sent:  # nothing new: no event (None)
                batch[plugin] = seq - 1, None, empty
                continue
            try:
                raw = codec.pack(StatEvent, plugin, ts, seq, value)
            except UnicodeEncodeError:  # a name read with surrogateescape (non-UTF-8 bytes)
                raw = codec.pack(StatEvent, plugin, ts, seq, valid_text(value))
            batch[plugin] = seq, raw, empty
        return batch


def _timeout(seconds: float) -> SamplerTimeout:
    return SamplerTimeout(f"no answer within {seconds:g} s; abandoned")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
