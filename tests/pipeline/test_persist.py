"""The one writer of a state file: a change counts as saved only once a snapshot taken
after it is on disk."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import trio

from pipeline.persist import SnapshotWriter, write_atomically


async def test_a_change_during_a_write_stays_dirty_and_is_saved_next(tmp_path: Path) -> None:
    state = {"n": 0}
    entered, release = threading.Event(), threading.Event()

    def slow_write(path: Path, body: bytes) -> None:
        entered.set()
        release.wait(timeout=10)
        write_atomically(path, body)

    path = tmp_path / "state.json"
    writer = SnapshotWriter(path, lambda: str(state["n"]).encode(), what="t", write=slow_write)
    with trio.fail_after(10):
        state["n"] = 1
        writer.changed(wake=False)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.save)
            await trio.to_thread.run_sync(entered.wait)
            state["n"] = 2  # changed while "1" is being written
            writer.changed(wake=False)
            release.set()
        assert path.read_bytes() == b"1"
        assert writer.dirty  # "2" is not on disk yet
        assert await writer.save()
    assert path.read_bytes() == b"2" and not writer.dirty


async def test_a_cancelled_write_leaves_the_state_dirty(tmp_path: Path) -> None:
    release = threading.Event()

    def hung_write(path: Path, body: bytes) -> None:
        release.wait(timeout=10)

    writer = SnapshotWriter(tmp_path / "s", lambda: b"x", what="t", write=hung_write)
    writer.changed(wake=False)
    try:
        with trio.move_on_after(0.2):
            await writer.save()  # cancelled (shutdown) while the disk hangs
        assert writer.dirty  # so the shutdown path still knows to save
        writer._write = write_atomically  # the disk is back
        assert await writer.save() and not writer.dirty
    finally:
        release.set()
    assert (tmp_path / "s").read_bytes() == b"x"


async def test_failures_are_retried_with_backoff(tmp_path: Path) -> None:
    calls: list[float] = []

    def failing(path: Path, body: bytes) -> None:
        calls.append(time.monotonic())  # in the worker thread: real time
        if len(calls) < 3:
            raise OSError("disk full")
        write_atomically(path, body)

    writer = SnapshotWriter(tmp_path / "s", lambda: b"ok", what="t", write=failing)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            writer.changed()
            while writer.dirty:  # noqa: ASYNC110 - polling the writer's plain state
                await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.9 and calls[2] - calls[1] >= 1.9  # 1 s, then 2 s
