"""Runs every sampler family on its own refresh interval.

Blocking psutil work goes to a worker thread under a timeout.  A sampler that raises is
logged and retried with exponential backoff; one that hangs is abandoned (its thread is
left to finish on its own, its result discarded) and retried.  Each family has its own
two-token thread limiter, so a hung sampler holds at most two threads and never starves
the others.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from pipeline.bus import Bus
from pipeline.config import Config
from pipeline.events import SamplerErrorEvent, StatEvent
from pipeline.samplers.base import SampleContext, SamplerSpec

log = logging.getLogger(__name__)

STATS_TOPIC = "stats"
ERRORS_TOPIC = "sampler_errors"
#: after a priming round (some plugin not ready yet) sample again after at most this
PRIMING_DELAY = 1.0


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
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_run: float | None = None
    last_duration: float | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self), plugins=list(self.plugins))


class RuntimeOptions:
    """Mutable options the API may set (processes/extended); read by the runner."""

    def __init__(self) -> None:
        self.extended_pid: int | None = None


class SamplerRunner:
    def __init__(
        self,
        bus: Bus,
        config: Config,
        specs: Sequence[SamplerSpec],
        *,
        options: RuntimeOptions | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._config = config
        self._options = options or RuntimeOptions()
        self._wall_clock = wall_clock
        enabled = set(config.enabled_plugins())
        self._specs = [s for s in specs if enabled.intersection(s.plugins)]
        self._enabled = frozenset(enabled)
        self._seq: dict[str, int] = {}
        self.status: dict[str, SamplerStatus] = {}
        for spec in self._specs:
            mine = [p for p in spec.plugins if p in enabled]
            self.status[spec.name] = SamplerStatus(
                spec.name,
                spec.plugins,
                interval=min(config.refresh_of(p) for p in mine),
                timeout=max(config.timeout_of(p) for p in mine),
            )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for spec in self._specs:
                nursery.start_soon(self._run_one, spec, name=f"sampler:{spec.name}")
            task_status.started()

    def _context(self) -> SampleContext:
        return SampleContext(self._config, self._enabled, self._options.extended_pid)

    async def _run_one(self, spec: SamplerSpec) -> None:
        status = self.status[spec.name]
        limiter = trio.CapacityLimiter(2)
        g = self._config.global_
        state: Any = None
        deadline = trio.current_time()
        while True:
            started = trio.current_time()
            try:
                data, new_state = await self._call(spec, state, limiter)
                # Encode here, inside the try: output that breaks the contract (not a
                # dict, or values msgpack cannot carry) is this sampler's failure and
                # must not escape and take the other samplers down with the runner.
                batch = self._encode(spec, data)
            except Exception as exc:  # noqa: BLE001 - any sampler failure is isolated here
                status.failures += 1
                status.consecutive_failures += 1
                status.state = "failing"
                status.last_error = _describe(exc)
                delay = min(g.retry_max, g.retry_initial * 2 ** (status.consecutive_failures - 1))
                log.warning(
                    "sampler %s failed (%s, attempt %d); retrying in %.1f s",
                    spec.name,
                    status.last_error,
                    status.consecutive_failures,
                    delay,
                    exc_info=not isinstance(exc, SamplerTimeout),
                )
                await self._bus.publish(
                    ERRORS_TOPIC,
                    SamplerErrorEvent(
                        spec.name,
                        self._wall_clock(),
                        status.last_error,
                        status.consecutive_failures,
                        delay,
                    ),
                )
                deadline = trio.current_time() + delay
            else:
                state = new_state
                status.runs += 1
                status.consecutive_failures = 0
                status.state = "ok"
                status.last_run = self._wall_clock()
                status.last_duration = trio.current_time() - started
                await self._publish(batch)
                missing = any(p in self._enabled and p not in batch for p in spec.plugins)
                step = min(status.interval, PRIMING_DELAY) if missing else status.interval
                deadline += step
                now = trio.current_time()
                if deadline < now:  # overran: skip to the next beat rather than burst
                    deadline += math.ceil((now - deadline) / step) * step
            await trio.sleep_until(deadline)

    async def _call(
        self, spec: SamplerSpec, state: Any, limiter: trio.CapacityLimiter
    ) -> tuple[dict[str, Any], Any]:
        timeout = self.status[spec.name].timeout
        ctx = self._context()
        with trio.move_on_after(timeout):
            result: tuple[dict[str, Any], Any] = await trio.to_thread.run_sync(
                spec.sample, state, ctx, abandon_on_cancel=True, limiter=limiter
            )
            return result
        raise SamplerTimeout(f"no answer within {timeout:g} s; abandoned")

    def _encode(self, spec: SamplerSpec, data: Any) -> dict[str, tuple[int, bytes]]:
        """``{plugin: (seq, encoded StatEvent)}`` for this round; raises on bad data."""
        if not isinstance(data, Mapping):
            raise TypeError(f"sampler returned {type(data).__name__}, not a dict of plugins")
        ts = self._wall_clock()
        batch: dict[str, tuple[int, bytes]] = {}
        for plugin in spec.plugins:
            if plugin not in self._enabled or plugin not in data:
                continue
            seq = self._seq.get(plugin, 0) + 1
            batch[plugin] = seq, StatEvent(plugin, ts, seq, data[plugin]).to_msgpack()
        return batch

    async def _publish(self, batch: dict[str, tuple[int, bytes]]) -> None:
        for plugin, (seq, raw) in batch.items():
            self._seq[plugin] = seq
            await self._bus.publish_raw(STATS_TOPIC, raw)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
