"""Virtual time for code that hands its work to worker threads (the sampler runner).

trio's ``autojump_clock`` jumps to the next deadline as soon as the run loop is idle,
and the loop is idle while a worker thread runs: a fake sampler that returns at once
still races the jump, and on a busy machine it loses (the runner then sees a timeout
that never happened).  A ``MockClock`` with an autojump threshold of a few real
milliseconds only makes the race rarer.

:class:`VirtualClock` never jumps on its own.  Its :meth:`~VirtualClock.drive` task
jumps to the next deadline only when every task is blocked **and** every worker thread
started through :meth:`~VirtualClock.start_thread_soon` has either finished (and its
result was handed back to trio) or is parked: blocked on a :class:`Gate` (a sampler that
hangs until the test releases it) or sleeping in virtual time (:meth:`~VirtualClock.
sleep`: a sampler that takes 0.4 s).  Whatever the machine's load, a test then sees
exactly the virtual times it computes.

Every change to the count of working threads is made in the trio thread (a worker
reports through ``TrioToken.run_sync_soon``), so the driver never reads a count that is
about to change behind its back.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections.abc import Callable
from typing import Any

import outcome
import trio
import trio.testing

#: a parked thread gives up after this many real seconds (a broken test must not leave
#: a thread behind for ever)
REAL_BOUND = 30.0


class VirtualClock(trio.abc.Clock):
    """A clock that stands still but when :meth:`drive` moves it; see the module.
    (``MockClock`` cannot be subclassed; this is one with rate 0 and no autojump.)"""

    def __init__(self) -> None:
        self._now = 0.0
        self._working = 0  # threads started and neither finished nor parked
        self._sleepers: list[tuple[float, int, threading.Event]] = []  # a heap
        self._order = itertools.count()
        self._changed: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None

    # -- trio.abc.Clock ---------------------------------------------------------------

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return 0.0 if deadline <= self._now else 86400.0  # only drive() moves time

    def jump(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time can't go backwards")
        self._now += seconds

    # -- the trio side ---------------------------------------------------------------

    async def drive(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Jump whenever the tasks and the threads have settled (``await
        nursery.start(clock.drive)`` for the whole test)."""
        self._token = trio.lowlevel.current_trio_token()
        task_status.started()
        while True:
            await trio.testing.wait_all_tasks_blocked()
            if self._working:
                await self._wait_for_change()
                continue
            now = self.current_time()
            target = now + trio.lowlevel.current_statistics().seconds_to_next_deadline
            if self._sleepers:
                target = min(target, self._sleepers[0][0])
            if math.isinf(target):  # nothing will ever happen but a thread's report
                await self._wait_for_change()
                continue
            if target > now:
                self.jump(target - now)
            while self._sleepers and self._sleepers[0][0] <= self.current_time():
                _, _, wake = heapq.heappop(self._sleepers)
                self._working += 1  # before it runs: no jump until it reports again
                wake.set()

    def start_thread_soon(
        self,
        fn: Callable[[], Any],
        deliver: Callable[[outcome.Outcome[Any]], object],
        name: str | None = None,
    ) -> None:
        """``trio.lowlevel.start_thread_soon``, counting the thread as working until its
        ``deliver`` has run (what ``deliver`` hands to trio is queued before the count
        goes down, so the driver sees the result before it may jump)."""
        token = self._require_driver()
        self._working += 1

        def delivered(result: outcome.Outcome[Any]) -> None:
            try:
                deliver(result)
            finally:
                try:
                    token.run_sync_soon(self._change, -1)
                except trio.RunFinishedError:
                    pass

        trio.lowlevel.start_thread_soon(fn, delivered, name=name)

    def gate(self) -> Gate:
        return Gate(self)

    # -- the worker side -------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """In a worker thread: block for ``seconds`` of virtual time."""
        wake = threading.Event()
        self._require_driver().run_sync_soon(self._park_sleeper, seconds, wake)
        wake.wait(timeout=REAL_BOUND)

    # -- bookkeeping, in the trio thread -------------------------------------------------

    def _require_driver(self) -> trio.lowlevel.TrioToken:
        if self._token is None:
            raise RuntimeError("VirtualClock.drive() is not running: nothing moves time")
        return self._token

    def _change(self, delta: int) -> None:
        self._working += delta
        if self._changed is not None:
            self._changed.set()

    async def _wait_for_change(self) -> None:
        self._changed = trio.Event()
        await self._changed.wait()
        self._changed = None

    def _park_sleeper(self, seconds: float, wake: threading.Event) -> None:
        # No jump happened since the thread asked: now is when it started to sleep.
        heapq.heappush(self._sleepers, (self.current_time() + seconds, next(self._order), wake))
        self._change(-1)


class Gate:
    """Worker threads :meth:`wait` here (parked: time moves on) until the test
    :meth:`open`\\ s it, in the trio thread."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._open = threading.Event()
        self._parked = 0

    def wait(self) -> None:
        """In a worker thread: block until the gate is open."""
        if self._open.is_set():
            return
        self._clock._require_driver().run_sync_soon(self._park)
        self._open.wait(timeout=REAL_BOUND)

    def open(self) -> None:
        """In the trio thread: let every waiting thread go (they work again, so time
        stands still until they report)."""
        if self._open.is_set():
            return
        self._clock._change(self._parked)
        self._parked = 0
        self._open.set()

    def is_open(self) -> bool:
        return self._open.is_set()

    def _park(self) -> None:
        if self._open.is_set():  # opened before this arrived: the thread never blocked
            return
        self._parked += 1
        self._clock._change(-1)
