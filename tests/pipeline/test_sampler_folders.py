"""The folders sampler: sizes of trees built in tmp_path, errors, budgets, refresh."""

from __future__ import annotations

import errno
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import from_mapping
from pipeline.plugins import PLUGINS
from pipeline.samplers import folders
from pipeline.samplers.folders import FoldersState, folder_size, sample_folders
from tests.pipeline.sampler_helpers import LOOPBACK_ONLY, context
from tests.polling import sync_until


def _ctx(*entries: dict[str, Any], timeout: float | None = None) -> Any:
    section: dict[str, Any] = {"folder": list(entries)}
    if timeout is not None:
        section["timeout"] = timeout
    return context(["folders"], config=from_mapping({**LOOPBACK_ONLY, "folders": section}))


def _file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, int]:
    """A tree of known size: nested files, a symlink to a file outside the tree
    (followed: counts the target's size), a symlink to a directory outside it (not
    walked into: counts the target directory's own st_size)."""
    root = tmp_path / "root"
    _file(root / "a.bin", 1000)
    _file(root / "sub" / "b.bin", 200)
    _file(root / "sub" / "deeper" / "c.bin", 30)
    (root / "empty").mkdir()
    outside = tmp_path / "outside"
    _file(outside / "big.bin", 50_000)
    _file(outside / "target.bin", 4)
    (root / "link-to-file").symlink_to(outside / "target.bin")
    (root / "link-to-dir").symlink_to(outside)
    expected = 1000 + 200 + 30 + 4 + os.stat(outside).st_size
    return root, expected


def test_folder_size_sums_files_follows_file_links_not_dir_links(
    tree: tuple[Path, int],
) -> None:
    root, expected = tree
    assert folder_size(str(root), time.monotonic() + 60) == (expected, 0)


def test_broken_symlink_is_skipped_and_sets_enoent(tree: tuple[Path, int]) -> None:
    root, expected = tree
    (root / "sub" / "dangling").symlink_to(root / "nowhere")
    assert folder_size(str(root), time.monotonic() + 60) == (expected, errno.ENOENT)


def test_missing_root_is_zero_with_enoent(tmp_path: Path) -> None:
    assert folder_size(str(tmp_path / "absent"), time.monotonic() + 60) == (0, errno.ENOENT)


def test_denied_subdirectory_sets_eacces_and_the_walk_goes_on(
    tree: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod 000 does not stop root, so the denial is raised where os.scandir is."""
    root, expected = tree
    real = os.scandir
    denied = str(root / "sub")

    def scandir(path: Any) -> Any:
        if os.fspath(path) == denied:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert folder_size(str(root), time.monotonic() + 60) == (expected - 230, errno.EACCES)
    monkeypatch.setattr(os, "scandir", lambda p: scandir(denied))
    assert folder_size(str(root), time.monotonic() + 60) == (0, errno.EACCES)


def test_tiny_budget_stops_with_etimedout_and_a_partial_size(tmp_path: Path) -> None:
    """A deep tree and a clock that advances one tick per look: the walk stops past
    its deadline with what it had summed."""
    current = tmp_path / "deep"
    for depth in range(200):
        _file(current / f"f{depth}", 10)
        current = current / f"d{depth}"
    current.mkdir()
    full = folder_size(str(tmp_path / "deep"), time.monotonic() + 60)
    assert full == (2000, 0)
    ticks = itertools.count()
    size, err = folder_size(str(tmp_path / "deep"), 50, lambda: next(ticks))
    assert err == errno.ETIMEDOUT
    assert 0 < size < 2000


def test_entries_echo_the_configuration(tree: tuple[Path, int], tmp_path: Path) -> None:
    root, expected = tree
    ctx = _ctx(
        {"path": str(root), "careful": 1, "warning": 2.5, "refresh": 30},
        {"path": str(tmp_path / "absent")},
    )
    data, state = sample_folders(None, ctx)
    assert data["folders"] == [
        {
            "indice": "1",
            "path": str(root),
            "size": expected,
            "errno": 0,
            "careful": 1.0,
            "warning": 2.5,
            "critical": None,
            "refresh": 30,
            "key": "path",
        },
        {
            "indice": "2",
            "path": str(tmp_path / "absent"),
            "size": 0,
            "errno": errno.ENOENT,
            "careful": None,
            "warning": None,
            "critical": None,
            "refresh": 60,
            "key": "path",
        },
    ]
    assert isinstance(state, FoldersState)


def test_no_folder_configured_is_the_empty_value() -> None:
    data, _ = sample_folders(None, context(["folders"]))
    assert data == {"folders": PLUGINS["folders"].empty()} == {"folders": []}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_folder_is_walked_only_when_its_refresh_is_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(folders, "monotonic", clock)
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    _file(fast / "f", 1)
    _file(slow / "s", 1)
    ctx = _ctx({"path": str(fast), "refresh": 10}, {"path": str(slow), "refresh": 60})

    def sizes(state: Any) -> tuple[list[int], Any]:
        data, state = sample_folders(state, ctx)
        return [e["size"] for e in data["folders"]], state

    got, state = sizes(None)
    assert got == [1, 1]
    _file(fast / "f", 5)
    _file(slow / "s", 5)
    clock.now += 9.9  # neither is due: the last sizes are served again
    got, state = sizes(state)
    assert got == [1, 1]
    clock.now += 0.1  # 10 s: the fast one is due
    got, state = sizes(state)
    assert got == [5, 1]
    clock.now += 50  # 60 s since the slow one's walk
    got, state = sizes(state)
    assert got == [5, 5]


def test_walks_of_due_folders_share_the_sampler_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three slow folders (every directory takes 0.1 s to open) whose own timeout is far
    above the sampler's: all stop at a share of the sampler timeout, walked side by side
    (one after the other they would take three shares, past the sampler timeout)."""
    real = os.scandir

    def slow_scandir(path: Any) -> Any:
        time.sleep(0.1)
        return real(path)

    monkeypatch.setattr(os, "scandir", slow_scandir)
    roots = []
    for name in ("one", "two", "three"):
        current = tmp_path / name
        roots.append(current)
        for _ in range(30):
            _file(current / "f", 7)
            current = current / "d"
    ctx = _ctx(*({"path": str(r), "timeout": 60} for r in roots), timeout=1.0)
    start = time.monotonic()
    data, _ = sample_folders(None, ctx)
    elapsed = time.monotonic() - start
    # side by side: one after the other, three walks of 0.7 s each could not take less
    # than 2.1 s (the rest of that is slack for a loaded machine)
    assert elapsed < 3 * 0.7
    for entry in data["folders"]:
        assert entry["errno"] == errno.ETIMEDOUT
        assert 0 < entry["size"] < 30 * 7


def test_own_timeout_bounds_a_walk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.scandir

    def slow_scandir(path: Any) -> Any:
        time.sleep(0.05)
        return real(path)

    monkeypatch.setattr(os, "scandir", slow_scandir)
    current = tmp_path / "deep"
    for _ in range(40):
        _file(current / "f", 3)
        current = current / "d"
    data, _ = sample_folders(None, _ctx({"path": str(tmp_path / "deep"), "timeout": 0.2}))
    (entry,) = data["folders"]
    assert entry["errno"] == errno.ETIMEDOUT
    assert 0 < entry["size"] < 40 * 3


def test_live_folder_under_tmp_path(tmp_path: Path) -> None:
    _file(tmp_path / "live" / "x", 12345)
    _file(tmp_path / "live" / "y" / "z", 55)
    data, state = sample_folders(None, _ctx({"path": str(tmp_path / "live")}))
    assert [(e["path"], e["size"], e["errno"]) for e in data["folders"]] == [
        (str(tmp_path / "live"), 12400, 0)
    ]
    again, _ = sample_folders(state, _ctx({"path": str(tmp_path / "live")}))
    assert again == data


def test_a_walk_stuck_in_a_system_call_is_not_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung mount: os.scandir blocks past the budget.  Later rounds answer ETIMEDOUT
    without starting another walk (threads would pile up, one per refresh), and the
    folder is walked again once the stuck call returns."""
    release = threading.Event()
    calls: list[str] = []
    real = os.scandir

    def hung_scandir(path: Any) -> Any:
        calls.append(str(path))
        release.wait(timeout=30)
        return real(path)

    monkeypatch.setattr(os, "scandir", hung_scandir)
    _file(tmp_path / "nfs" / "f", 5)
    folder = {"path": str(tmp_path / "nfs"), "timeout": 0.1, "refresh": 1}
    try:
        for _ in range(3):
            data, _ = sample_folders(None, _ctx(folder))
            assert data["folders"][0]["errno"] == errno.ETIMEDOUT
        assert len(calls) == 1  # one stuck walk, not one per round
    finally:
        release.set()
    stuck = folders._WALKS.stuck.get(str(tmp_path / "nfs"))
    sync_until(lambda: stuck is None or not stuck.is_alive(), interval=0.01)
    data, _ = sample_folders(None, _ctx(folder))
    assert (data["folders"][0]["size"], data["folders"][0]["errno"]) == (5, 0)
    assert len(calls) == 2
