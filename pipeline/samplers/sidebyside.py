"""Jobs run side by side, a daemon thread each, none waited for past its deadline.

The ``folders`` walks and the ``amps`` commands of one round run this way, so that one
slow job costs its own budget and not the others'.  A job still running past its
deadline plus a grace (stuck in the kernel: a walk on a hung network mount, a child
that does not die when killed) is left to finish on its own, and remembered by its
name: the same job is not started again until that one returns, so threads cannot
pile up one per refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

#: a job, and the clock value by which it should be done
Job = tuple[Callable[[], None], float]


class _Run:
    __slots__ = ("job", "done", "fault")

    def __init__(self, job: Callable[[], None]) -> None:
        self.job = job
        self.done = False
        self.fault: BaseException | None = None

    def __call__(self) -> None:
        try:
            self.job()
        except BaseException as exc:  # handed to the caller, which raises it
            self.fault = exc
        finally:
            self.done = True


class SideBySide:
    """One per kind of job (``SideBySide("folders")``), kept for the process's life:
    :attr:`stuck` holds the threads still running past their deadline, by job name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stuck: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def run(
        self,
        jobs: Mapping[str, Job],
        *,
        grace: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> tuple[set[str], set[str]]:
        """Run each ``{name: (job, deadline)}`` in a daemon thread of its own and wait
        for each until its deadline (on ``clock``) plus ``grace`` seconds; a job's
        exception is raised here.  Returns ``(skipped, unfinished)``: the jobs not
        started because their previous run is still stuck, and those still running."""
        skipped: set[str] = set()
        started: list[tuple[str, float, _Run, threading.Thread]] = []
        for name, (job, deadline) in jobs.items():
            with self._lock:
                previous = self.stuck.get(name)
                if previous is not None and previous.is_alive():
                    skipped.add(name)
                    continue
                self.stuck.pop(name, None)
            run = _Run(job)
            thread = threading.Thread(target=run, name=f"{self.name}:{name}", daemon=True)
            thread.start()
            started.append((name, deadline, run, thread))
        unfinished: set[str] = set()
        for name, deadline, run, thread in started:
            thread.join(max(0.0, deadline - clock()) + grace)
            if run.fault is not None:
                raise run.fault
            if not run.done:
                with self._lock:
                    self.stuck[name] = thread
                unfinished.add(name)
        return skipped, unfinished
