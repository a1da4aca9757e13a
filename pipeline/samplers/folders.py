"""The ``folders`` plugin: the size of each configured folder, walked on its own refresh.

Each ``[[folders.folder]]`` entry is served as::

    {"indice": "1", "path": "/var/log", "size": 123456789, "errno": 0,
     "careful": 100.0, "warning": None, "critical": 500.0, "refresh": 60, "key": "path"}

``size`` is :func:`folder_size`, the reference's ``glances.globals.folder_size``: the sum
of the ``st_size`` of every non-directory entry under ``path`` (``stat`` follows a
symlink to a file; a symlink to a directory is not walked into, it counts its target's
own ``st_size``), found by a recursive ``os.scandir``.  An error on one entry or
sub-directory sets ``errno`` (the last one met wins) and the walk goes on; an unreadable
root gives ``(0, errno)``.

The sampler runs every 10 s (the registry's refresh), but a folder is walked again only
once its own ``refresh`` has passed since its last walk: the state keeps each folder's
last result and when it was walked.  Each walk has a time budget, the folder's
``timeout``; past it the walk stops with ``errno = ETIMEDOUT`` and the partial sum.

The due folders are walked **concurrently**, one daemon thread each, so one slow folder
does not delay the others, and every budget is capped at :data:`BUDGET_SHARE` of the
sampler timeout (``ctx.config.timeout_of("folders")``): the round ends before the
runner would abandon it.  A walk stuck in one system call (a hung network mount) is
reported ``ETIMEDOUT`` with what it had summed; its thread ends when the call returns.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from pipeline.plugins import PLUGINS
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers.base import as_configured
from pipeline.samplers.sidebyside import SideBySide

log = logging.getLogger(__name__)

#: the clock of the refresh schedule and of the walks' budgets (a seam for tests)
monotonic: Callable[[], float] = time.monotonic
#: the share of the sampler timeout the walks of one round may take, together
BUDGET_SHARE = 0.7
#: how long past the budget the sampler waits for a walk stuck in a system call
JOIN_GRACE = 0.2


@dataclass(frozen=True, slots=True)
class FolderResult:
    size: int
    errno: int
    #: ``monotonic()`` when the walk started
    walked_at: float


@dataclass(frozen=True, slots=True)
class FoldersState:
    #: path -> its last walk
    results: Mapping[str, FolderResult]


class _Walk:
    """One walk's running total, readable while the walk is still going."""

    __slots__ = ("size", "errno")

    def __init__(self) -> None:
        self.size = 0
        self.errno = 0


def folder_size(
    path: str, deadline: float, clock: Callable[[], float] = time.monotonic
) -> tuple[int, int]:
    """``(size, errno)`` of the tree under ``path``, as the reference's ``folder_size``,
    stopping with ``ETIMEDOUT`` once ``clock()`` passes ``deadline``."""
    walk = _Walk()
    _walk(path, deadline, clock, walk)
    return walk.size, walk.errno


def _walk(path: str, deadline: float, clock: Callable[[], float], walk: _Walk) -> None:
    # An explicit stack rather than the reference's recursion: a deep tree cannot hit
    # the recursion limit.
    stack = [path]
    root = True
    while stack:
        current = stack.pop()
        if clock() > deadline:
            walk.errno = errno.ETIMEDOUT
            return
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    if clock() > deadline:
                        walk.errno = errno.ETIMEDOUT
                        return
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                            continue
                        walk.size += entry.stat().st_size  # follows a symlink
                    except OSError as exc:  # gone meanwhile, a broken symlink, denied
                        walk.errno = exc.errno or errno.EIO
        except OSError as exc:  # cannot open (or read) this directory: it counts 0
            walk.errno = exc.errno or errno.EIO
            if root:
                walk.size = 0
                return
        root = False


#: the walks, side by side; one still in a system call (a hung network mount) past its
#: budget is not started again until it returns, so threads cannot pile up
_WALKS = SideBySide("folders")


def _walk_all(paths: list[tuple[str, float]], cap: float) -> dict[str, tuple[int, int]]:
    """``{path: (size, errno)}``, walking each ``(path, timeout)`` in a thread of its
    own, each within ``min(timeout, cap)`` seconds.  A path whose last walk is still
    stuck is not walked again: it answers ``(0, ETIMEDOUT)`` until that walk returns."""
    start = monotonic()
    walks = {path: _Walk() for path, _ in paths}
    jobs = {}
    for path, timeout in paths:
        deadline = start + min(timeout, cap)
        jobs[path] = (partial(_walk, path, deadline, monotonic, walks[path]), deadline)
    # a stuck walk is waited for only so long past its budget
    skipped, unfinished = _WALKS.run(jobs, grace=JOIN_GRACE, clock=monotonic)
    out: dict[str, tuple[int, int]] = {}
    for path, walk in walks.items():
        if path in skipped:
            out[path] = (0, errno.ETIMEDOUT)
        elif path in unfinished:
            log.warning(
                "walking %s: still in a system call past its budget; not walked again"
                " until it returns",
                path,
            )
            out[path] = (walk.size, errno.ETIMEDOUT)
        else:
            out[path] = (walk.size, walk.errno)
        if out[path][1]:
            log.debug("size of %s may be incomplete: errno %d", path, out[path][1])
    return out


def sample_folders(
    previous: FoldersState | None, ctx: SampleContext
) -> tuple[dict[str, Any], FoldersState]:
    folders = ctx.config.plugins["folders"].options["folder"]
    if not folders:
        return {"folders": PLUGINS["folders"].empty()}, FoldersState({})
    last: Mapping[str, FolderResult] = previous.results if previous is not None else {}
    now = monotonic()
    configured: list[Mapping[str, Any]] = []
    due: list[tuple[str, float]] = []
    seen: set[str] = set()
    for folder in folders:
        path = folder["path"]
        if path in seen:
            continue  # the key must be unique: the first entry for a path wins
        seen.add(path)
        configured.append(folder)
        done = last.get(path)
        if done is None or now - done.walked_at >= folder["refresh"]:
            due.append((path, folder["timeout"]))
    results = {p: r for p, r in last.items() if p in seen}  # a removed folder is dropped
    if due:
        cap = ctx.config.timeout_of("folders") * BUDGET_SHARE
        for path, (size, err) in _walk_all(due, cap).items():
            results[path] = FolderResult(size, err, now)
    entries = []
    for index, folder in enumerate(configured, 1):
        result = results[folder["path"]]
        entries.append(
            {
                "indice": str(index),
                "path": folder["path"],
                "size": result.size,
                "errno": result.errno,
                "careful": folder["careful"],
                "warning": folder["warning"],
                "critical": folder["critical"],
                "refresh": as_configured(folder["refresh"]),
                "key": "path",
            }
        )
    return {"folders": entries}, FoldersState(results)


SAMPLERS = [SamplerSpec("folders", ("folders",), sample_folders)]
