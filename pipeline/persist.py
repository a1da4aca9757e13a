"""Small helpers for the files statbus keeps in its data directory."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import trio

from pipeline.backoff import exponential

log = logging.getLogger(__name__)


def write_atomically(path: Path, body: bytes) -> None:
    """Write ``body`` to ``path`` so that a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own: an abandoned (hung) earlier write may still hold its file.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


#: a write that has not finished after this long (a hung disk) is abandoned and retried
SAVE_TIMEOUT = 10.0
#: the longest wait between two attempts after failures
SAVE_RETRY_MAX = 60.0


class SnapshotWriter:
    """The one writer of a state file: the latest snapshot, atomically, off the trio
    thread, bounded in time, retried with backoff and logged once per failure episode.

    The owner calls :meth:`changed` when its state changed (``wake=False`` to only mark
    it, for a later save), runs :meth:`run` as a task, and calls :meth:`save` once more
    on shutdown (shielded, with a deadline) if :attr:`dirty`.  A change counts as saved
    only when a snapshot taken after it was written, so neither a cancelled nor an
    abandoned write can lose the last state.
    """

    def __init__(
        self,
        path: Path,
        snapshot: Callable[[], bytes],
        *,
        what: str,
        timeout: float = SAVE_TIMEOUT,
        write: Callable[[Path, bytes], None] = write_atomically,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._snapshot = snapshot
        self._what = what
        self._timeout = timeout
        self._write = write
        self._clock = clock
        self._wanted = trio.Event()
        self._generation = 0  # changes so far
        self._saved = 0  # the generation the file holds
        #: when the last successful save started (``clock`` time), 0 before any
        self.last_save = 0.0

    @property
    def dirty(self) -> bool:
        return self._saved != self._generation

    def changed(self, *, wake: bool = True) -> None:
        self._generation += 1
        if wake:
            self._wanted.set()

    async def run(self) -> None:
        failures = 0
        while True:
            await self._wanted.wait()
            self._wanted = trio.Event()
            if not self.dirty or await self.save():
                if failures:
                    log.info("%s: saved again in %s", self._what, self.path)
                failures = 0
                continue
            failures += 1
            if failures == 1:
                log.warning("%s: cannot save to %s; retrying with backoff", self._what, self.path)
            await trio.sleep(exponential(failures, 1.0, SAVE_RETRY_MAX))
            self._wanted.set()

    async def save(self) -> bool:
        """Write the current snapshot; whether it was written within the timeout."""
        generation, started = self._generation, self._clock()
        body = self._snapshot()
        with trio.move_on_after(self._timeout):
            try:
                await trio.to_thread.run_sync(self._write, self.path, body, abandon_on_cancel=True)
            except OSError as exc:
                log.debug("%s: cannot save to %s: %s", self._what, self.path, exc)
                return False
            self._saved = max(self._saved, generation)
            self.last_save = started
            return True
        log.debug("%s: saving to %s took more than %g s", self._what, self.path, self._timeout)
        return False
