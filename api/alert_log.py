"""The alert transitions that ``/api/4/stream``'s ``Last-Event-ID`` resumes from.

Quart-free (``api/handles.py`` carries one): the composition root makes it when the
API starts (``api/main.py``), so transitions are numbered and kept from then on,
not only once Quart has loaded for a first stream.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack

import trio

from pipeline.bus import Bus, Policy
from pipeline.topics import ALERTS_TOPIC

#: alert transitions kept for Last-Event-ID, and queued at most for one slow client
RESUME_SIZE = 100


class AlertLog:
    """The latest alert transitions, numbered ``<boot>-<n>``: what ``Last-Event-ID``
    resumes from.

    It has a subscriber of its own on ``alerts`` (latest-wins, :data:`RESUME_SIZE`) from
    the moment the app is built, and numbers what it queued whenever a stream asks
    (:meth:`sync`), so it needs no task: the bus hands an event to this subscriber
    before any stream's (it subscribed first), so whatever a stream has received is
    numbered here by then.  Transitions the bus dropped while nobody asked still take
    their numbers, so the gap shows.  ``boot`` (the creation time in ms) tells this
    process's ids from an earlier one's."""

    def __init__(
        self, bus: Bus, size: int | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        size = RESUME_SIZE if size is None else size
        self.boot = int(clock() * 1000)
        self._stack = ExitStack()
        self._sub = self._stack.enter_context(
            bus.subscribe(
                ALERTS_TOPIC, name="stream-resume", policy=Policy.LATEST_WINS, maxsize=size
            )
        )
        self._entries: deque[tuple[int, bytes]] = deque(maxlen=size)
        #: the number of the newest transition numbered so far
        self.last = 0
        self._dropped = 0
        self._id = re.compile(rf"{self.boot}-([0-9]{{1,18}})")

    def close(self) -> None:
        self._stack.close()

    def sync(self) -> None:
        """Number what the bus queued since the last call (never waits)."""
        # Drops only ever take the oldest queued event: every event dropped so far is
        # older than every event still queued.
        self.last += self._sub.stats.dropped - self._dropped
        self._dropped = self._sub.stats.dropped
        while True:
            try:
                raw = self._sub.receive_raw_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            self.last += 1
            self._entries.append((self.last, raw))

    def after(self, seq: int) -> tuple[list[tuple[int, bytes]], int]:
        """The transitions numbered after ``seq``, oldest first, and how many of those
        are no longer in memory."""
        self.sync()
        entries = [entry for entry in self._entries if entry[0] > seq]
        first = entries[0][0] if entries else self.last + 1
        return entries, max(0, first - seq - 1)

    def event_id(self, seq: int) -> str:
        return f"{self.boot}-{seq}"

    def parse_id(self, text: str) -> int | None:
        """The number of one of this log's ids, else ``None`` (another process's)."""
        match = self._id.fullmatch(text.strip())
        return None if match is None else min(int(match.group(1)), self.last)
