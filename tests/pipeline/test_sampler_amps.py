"""The amps sampler: matching on fixture /proc trees, commands without a shell, refresh."""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from pipeline.config import from_mapping
from pipeline.plugins import PLUGINS
from pipeline.samplers import amps, procfs
from pipeline.samplers.amps import AmpsState, sample_amps, scan
from pipeline.samplers.processes import CLOCK_TICKS, PAGESIZE
from tests.pipeline.sampler_helpers import LOOPBACK_ONLY, context
from tests.polling import sync_until

FIXTURES = Path(__file__).parent / "fixtures"
#: a real /proc/<pid>/stat line (tests/pipeline/fixtures/proc/9129/stat) as a template
STAT = (FIXTURES / "proc" / "9129" / "stat").read_text()
MEM_TOTAL = 24684092 * 1024  # fixtures/amps/meminfo's MemTotal


def _stat(pid: int, comm: str, utime: int = 0, stime: int = 0, rss: int = 413) -> str:
    fields = STAT[STAT.rfind(")") + 2 :].split()
    fields[11], fields[12], fields[21] = str(utime), str(stime), str(rss)
    return f"{pid} ({comm}) {' '.join(fields)}\n"


def add_process(root: Path, pid: int, comm: str, cmdline: list[str], **stat: int) -> Path:
    base = root / str(pid)
    base.mkdir()
    (base / "stat").write_text(_stat(pid, comm, **stat))
    (base / "cmdline").write_bytes(b"".join(os.fsencode(a) + b"\0" for a in cmdline))
    return base


@pytest.fixture
def proc_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared fixture tree (kthreadd, truncated names, a setproctitle command line,
    a pid without stat), with a meminfo, as procfs.PROC."""
    root = tmp_path / "proc"
    shutil.copytree(FIXTURES / "proc", root)
    shutil.copy(FIXTURES / "amps" / "meminfo", root / "meminfo")
    monkeypatch.setattr(procfs, "PROC", str(root))
    monkeypatch.setattr(procfs, "_shared", {})  # no meminfo read from the real /proc
    return root


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(amps, "monotonic", fake)
    return fake


def _ctx(*entries: dict[str, Any], timeout: float | None = None) -> Any:
    section: dict[str, Any] = {"amp": list(entries)}
    if timeout is not None:
        section["timeout"] = timeout
    return context(["amps"], config=from_mapping({**LOOPBACK_ONLY, "amps": section}))


def _by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in data["amps"]}


def test_match_on_name_or_joined_cmdline(proc_root: Path, clock: FakeClock) -> None:
    ctx = _ctx(
        {"name": "kthread", "regex": "^kthreadd$"},  # name only: no command line
        {"name": "extended", "regex": "^very-long-program-name$"},  # psutil's long name
        {"name": "truncated", "regex": "^very-long-progr$"},  # a name left as it is
        {"name": "worker", "regex": "nginx: worker process"},  # the joined command line
        {"name": "python", "regex": r"time\.sleep\(300\)"},  # across an argument
        {"name": "either", "regex": ["^kthreadd$", "worker"]},
    )
    data, _ = sample_amps(None, ctx)
    counts = {name: e["count"] for name, e in _by_name(data).items()}
    assert counts == {
        "kthread": 1,
        "extended": 1,
        "truncated": 1,
        "worker": 1,
        "python": 1,
        "either": 2,
    }
    found = scan(str(proc_root), [[re.compile("^very-long-progr")]])
    assert [(p.pid, p.name) for p in found[0]] == [
        (9129, "very-long-program-name"),
        (9200, "very-long-progr"),
    ]


def test_entry_shape_as_the_spec(proc_root: Path, clock: FakeClock) -> None:
    ctx = _ctx(
        {"name": "Dropbox", "regex": "dropbox", "countmin": 1},
        {"name": "Python", "regex": "nothing-like-this", "countmax": 20},
    )
    data, state = sample_amps(None, ctx)
    assert data["amps"] == [
        {
            "count": 0,
            "countmax": None,
            "countmin": 1.0,
            "key": "name",
            "name": "Dropbox",
            "refresh": 3.0,
            "regex": True,
            "result": "No running process",
            "timer": 3.0,
        },
        {
            "count": 0,
            "countmax": 20.0,
            "countmin": None,
            "key": "name",
            "name": "Python",
            "refresh": 3.0,
            "regex": True,
            "result": None,
            "timer": 3.0,
        },
    ]
    assert isinstance(state, AmpsState)


def test_no_procfs_counts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setattr(procfs, "PROC", str(tmp_path / "absent"))
    data, _ = sample_amps(None, _ctx({"name": "x", "regex": "x", "countmin": 1}))
    assert [(e["count"], e["result"]) for e in data["amps"]] == [(0, "No running process")]


def test_no_amp_configured_is_the_empty_value() -> None:
    data, _ = sample_amps(None, context(["amps"]))
    assert data == {"amps": PLUGINS["amps"].empty()} == {"amps": []}


def test_command_output_is_the_result(proc_root: Path, clock: FakeClock) -> None:
    ctx = _ctx(
        {"name": "echo", "regex": "kthreadd", "command": ["/bin/echo", "ok"]},
        # one argument holding shell syntax: a shell would print "a" then "b"
        {"name": "literal", "regex": "kthreadd", "command": ["/bin/echo", "a && echo b"]},
        {"name": "lines", "regex": "kthreadd", "command": ["printf", "l1\\nl2\\n\\n"]},
        {
            "name": "multi",
            "regex": "kthreadd",
            "command": ["printf", "l1\\nl2\\n"],
            "one_line": False,
        },
        {"name": "stderr", "regex": "kthreadd", "command": ["sh", "-c", "echo out; echo err >&2"]},
        {"name": "absent", "regex": "no-such-process", "command": ["/bin/echo", "never"]},
    )
    results = {n: e["result"] for n, e in _by_name(sample_amps(None, ctx)[0]).items()}
    assert results == {
        "echo": "ok",
        "literal": "a && echo b",
        "lines": "l1 | l2",
        "multi": "l1\nl2",
        "stderr": "err",
        "absent": None,
    }


def test_missing_program_gives_an_explanation_logged_once(
    proc_root: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = _ctx({"name": "gone", "regex": "kthreadd", "command": ["/nonexistent/prog", "x"]})
    with caplog.at_level(logging.WARNING, logger="pipeline.samplers.amps"):
        data, state = sample_amps(None, ctx)
        clock.now += 3
        again, _ = sample_amps(state, ctx)
    assert data["amps"][0]["result"] == "Command not found: /nonexistent/prog"
    assert again["amps"][0]["result"] == "Command not found: /nonexistent/prog"
    assert [r.getMessage() for r in caplog.records] == [
        "amp gone: Command not found: /nonexistent/prog"
    ]


def _sleepers() -> list[psutil.Process]:
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.cmdline() == ["sleep", "10"]:
                out.append(child)
        except psutil.Error:
            continue
    return out


def test_command_timeout_kills_it(proc_root: Path, clock: FakeClock) -> None:
    ctx = _ctx(
        {"name": "slow", "regex": "kthreadd", "command": ["sleep", "10"], "command_timeout": 0.2}
    )
    start = time.monotonic()
    data, _ = sample_amps(None, ctx)
    assert time.monotonic() - start < 0.2 + 3  # the timeout, and a generous margin
    assert data["amps"][0]["result"] == "Command timed out after 0.2 s: sleep"
    assert _sleepers() == []


def test_commands_of_due_amps_share_the_sampler_budget(proc_root: Path, clock: FakeClock) -> None:
    """Three commands whose own timeout is far above the sampler's: each is stopped at
    a share of the sampler timeout, run side by side (one after the other they would
    take three shares, past the sampler timeout)."""
    slow = {"regex": "kthreadd", "command": ["sleep", "10"], "command_timeout": 60}
    ctx = _ctx(*({"name": f"slow{i}", **slow} for i in range(3)), timeout=1.0)
    start = time.monotonic()
    data, _ = sample_amps(None, ctx)
    # side by side: one after the other, three commands stopped at 0.7 s each could
    # not take less than 2.1 s (the rest of that is slack for a loaded machine)
    assert time.monotonic() - start < 3 * 0.7
    assert {e["result"] for e in data["amps"]} == {"Command timed out after 0.7 s: sleep"}
    assert _sleepers() == []


def test_each_amp_updates_on_its_own_refresh(proc_root: Path, clock: FakeClock) -> None:
    ctx = _ctx(
        {"name": "fast", "regex": "^app$", "refresh": 3},
        {"name": "slow", "regex": "^app$", "refresh": 10},
    )
    add_process(proc_root, 500, "app", ["app"])
    data, state = sample_amps(None, ctx)
    assert [(e["count"], e["timer"]) for e in data["amps"]] == [(1, 3.0), (1, 10.0)]
    add_process(proc_root, 501, "app", ["app", "--again"])
    clock.now += 2.5  # neither is due: the last counts, with their timers running down
    data, state = sample_amps(state, ctx)
    assert [(e["count"], e["timer"]) for e in data["amps"]] == [(1, 0.5), (1, 7.5)]
    clock.now += 0.5
    data, state = sample_amps(state, ctx)
    assert [(e["count"], e["timer"]) for e in data["amps"]] == [(2, 3.0), (1, 7.0)]
    clock.now += 7
    data, state = sample_amps(state, ctx)
    assert [e["count"] for e in data["amps"]] == [2, 2]


def test_without_command_cpu_and_memory_summed(proc_root: Path, clock: FakeClock) -> None:
    ctx = _ctx({"name": "app", "regex": "^app$", "refresh": 3})
    add_process(proc_root, 600, "app", ["app"], utime=10, stime=5, rss=1000)
    add_process(proc_root, 601, "app", ["app"], utime=0, stime=0, rss=3000)
    mem = 4000 * PAGESIZE / MEM_TOTAL * 100
    data, state = sample_amps(None, ctx)
    assert data["amps"][0]["result"] == f"CPU: 0.0% | MEM: {mem:.1f}%"
    # 3 s later: 1.5 s of CPU for one process, 0.3 s for the other
    (proc_root / "600" / "stat").write_text(
        _stat(600, "app", utime=10 + CLOCK_TICKS, stime=5 + CLOCK_TICKS // 2, rss=1000)
    )
    (proc_root / "601" / "stat").write_text(
        _stat(601, "app", utime=CLOCK_TICKS * 3 // 10, rss=3000)
    )
    clock.now += 3
    data, _ = sample_amps(state, ctx)
    assert data["amps"][0]["result"] == f"CPU: 60.0% | MEM: {mem:.1f}%"


def test_live_amp_matches_this_python_process() -> None:
    pattern = r"python|pytest"
    ((me,),) = [
        [p for p in found if p.pid == os.getpid()]
        for found in scan(procfs.PROC, [[re.compile(pattern)]])
    ]
    assert me.pid == os.getpid()
    ctx = _ctx({"name": "Python", "regex": pattern, "countmin": 1})
    data, state = sample_amps(None, ctx)
    (entry,) = data["amps"]
    assert entry["count"] >= 1
    assert re.fullmatch(r"CPU: \d+\.\d% \| MEM: \d+\.\d%", entry["result"])
    assert entry["regex"] is True


def test_a_command_that_cannot_be_reaped_is_not_started_again(
    proc_root: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed child stuck in the kernel keeps its thread past the budget: the later
    rounds answer "did not finish" without starting the command again (threads and
    processes would pile up, one per refresh); once it returns, the command runs again."""
    release = threading.Event()
    started: list[str] = []

    def stuck(argv: Any, timeout: float) -> tuple[str | None, str | None]:
        started.append(argv[0])
        release.wait(timeout=30)
        return "late", None

    monkeypatch.setattr(amps, "run_command", stuck)
    amp = {"name": "df", "regex": "kthreadd", "command": ["df"], "command_timeout": 0.1}
    try:
        for _ in range(3):
            data, _ = sample_amps(None, _ctx(amp))
            assert data["amps"][0]["result"] == "Command did not finish: df"
        assert started == ["df"]
    finally:
        release.set()
    sync_until(lambda: not amps._COMMANDS.stuck["df"].is_alive(), interval=0.01)
    monkeypatch.setattr(amps, "run_command", lambda argv, timeout: ("ok", None))
    data, _ = sample_amps(None, _ctx(amp))
    assert data["amps"][0]["result"] == "ok"
