"""The processes family: processcount, processlist and programlist from one pass.

Real processes are the subjects: this test process (busy for a moment, so its CPU use
is known), and ``sleep`` children that are started, grouped and killed by the tests.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from pipeline.samplers import processes
from pipeline.samplers.processes import ProcessesState, sample_processes
from pipeline.samplers.programs import group_programs
from tests.pipeline.sampler_helpers import context
from tests.polling import sync_until

LIST_PLUGINS = ["processcount", "processlist", "programlist"]
PROCESS_FIELDS = {
    "key", "pid", "name", "cmdline", "username", "status", "nice", "num_threads",
    "cpu_percent", "memory_percent", "memory_info", "cpu_times", "io_counters", "gids",
    "time_since_update",
}  # fmt: skip
EXTENDED_FIELDS = {
    "extended_stats", "cpu_affinity", "ionice", "num_ctx_switches", "num_fds", "memory_swap",
    "tcp", "udp",
}  # fmt: skip


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen(["sleep", "30"]) for _ in range(3)]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait()


def burn_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def snapshot(state: ProcessesState) -> dict[int, tuple[Any, ...]]:
    """What a state holds, copied."""
    return {pid: tuple(t) for pid, t in state.tracked.items()} | {
        -1: (state.ts, state.wall, dict(state.usernames), state.pid_max)
    }


def by_pid(entries: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {e["pid"]: e for e in entries}


def test_first_call_counts_and_primes_the_lists() -> None:
    data, state = sample_processes(None, context(LIST_PLUGINS))
    assert set(data) == {"processcount"}
    count = data["processcount"]
    assert count["pid_max"] == int(Path("/proc/sys/kernel/pid_max").read_text())
    assert count["total"] == len(state.tracked) > 0
    assert count["running"] + count["sleeping"] <= count["total"] <= count["thread"]
    assert os.getpid() in state.tracked


def test_second_call_lists_processes_in_the_glances_shape(
    sleepers: list[subprocess.Popen[bytes]],
) -> None:
    ctx = context(LIST_PLUGINS)
    _, state = sample_processes(None, ctx)
    before = snapshot(state)
    time.sleep(0.05)
    burn_cpu(0.3)
    data, state2 = sample_processes(state, ctx)
    assert snapshot(state) == before  # the previous state is untouched
    entries = data["processlist"]
    assert data["processcount"]["total"] == len(entries)
    assert all(set(e) == PROCESS_FIELDS for e in entries)
    keys = [(e["cpu_percent"], e["memory_percent"]) for e in entries]
    assert keys == sorted(keys, reverse=True)
    me = by_pid(entries)[os.getpid()]
    elapsed = me["time_since_update"]
    assert elapsed == pytest.approx(state2.ts - state.ts)
    # 100 = one full core: 0.3 s of CPU in about 0.35 s of wall time
    assert 100 * 0.3 / elapsed - 15 <= me["cpu_percent"] <= 100 * (0.3 + 0.1) / elapsed + 5
    assert me["username"] == pwd.getpwuid(os.getuid()).pw_name
    assert me["name"] == psutil.Process().name()
    assert me["cmdline"] == psutil.Process().cmdline()
    assert me["status"] in {"R", "S"}
    assert me["gids"] == dict(zip(("real", "effective", "saved"), os.getresgid(), strict=True))
    assert set(me["memory_info"]) >= {"rss", "vms", "shared", "text", "lib", "data", "dirty"}
    assert set(me["cpu_times"]) == {"user", "system", "children_user", "children_system", "iowait"}
    rss = psutil.Process().memory_info().rss
    assert me["memory_percent"] == pytest.approx(rss / psutil.virtual_memory().total * 100, rel=0.2)
    read, write, read_prev, write_prev, tag = me["io_counters"]
    assert tag == 1 and read >= read_prev and write >= write_prev
    for sleeper in sleepers:
        entry = by_pid(entries)[sleeper.pid]
        assert entry["cpu_percent"] == 0.0 and entry["status"] == "S"
        assert entry["cmdline"] == ["sleep", "30"] and entry["name"] == "sleep"


def test_programlist_groups_processes_by_name(sleepers: list[subprocess.Popen[bytes]]) -> None:
    ctx = context(LIST_PLUGINS)
    _, state = sample_processes(None, ctx)
    time.sleep(0.05)
    data, _ = sample_processes(state, ctx)
    members = [e for e in data["processlist"] if e["name"] == "sleep"]
    programs = {p["name"]: p for p in data["programlist"]}
    assert len(programs) == len(data["programlist"])
    prog = programs["sleep"]
    assert {s.pid for s in sleepers} <= set(prog["childrens"])
    assert prog["nprocs"] == len(prog["childrens"]) == len(members)
    assert prog["pid"] == "_" and prog["cmdline"] == ["sleep"]
    assert prog["memory_info"]["rss"] == sum(m["memory_info"]["rss"] for m in members)
    assert prog["num_threads"] == sum(m["num_threads"] for m in members)
    assert prog["memory_percent"] == pytest.approx(sum(m["memory_percent"] for m in members))
    assert prog["io_counters"][:4] == [sum(m["io_counters"][i] for m in members) for i in range(4)]
    assert prog["username"] == members[0]["username"] and prog["gids"] == members[0]["gids"]
    total = sum(len(p["childrens"]) for p in data["programlist"])
    assert total == len(data["processlist"])


def test_processes_that_come_and_go_between_calls() -> None:
    ctx = context(LIST_PLUGINS)
    doomed = subprocess.Popen(["sleep", "30"])
    try:
        _, state = sample_processes(None, ctx)
        assert doomed.pid in state.tracked
    finally:
        doomed.kill()
        doomed.wait()
    newcomer = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.05)
        data, state2 = sample_processes(state, ctx)
        listed = by_pid(data["processlist"])
        assert doomed.pid not in listed and doomed.pid not in state2.tracked
        entry = listed[newcomer.pid]
        assert entry["io_counters"][4] == 0  # first sight: no previous I/O reading
        assert entry["io_counters"][:2] == entry["io_counters"][2:4]
    finally:
        newcomer.kill()
        newcomer.wait()


def test_a_reused_pid_is_a_new_process() -> None:
    ctx = context(LIST_PLUGINS)
    _, state = sample_processes(None, ctx)
    me = state.tracked[os.getpid()]
    assert me.start is not None  # identity comes from the start time on Linux
    assert me.static is not None
    stale = me._replace(start=b"1", static=me.static._replace(name="ghost", cmdline=("ghost",)))
    previous = dataclasses.replace(state, tracked={**state.tracked, os.getpid(): stale})
    data, state2 = sample_processes(previous, ctx)
    entry = by_pid(data["processlist"])[os.getpid()]
    assert entry["name"] != "ghost" and entry["io_counters"][4] == 0
    assert state2.tracked[os.getpid()].static is not stale.static
    # the same process keeps its cached details
    data, state3 = sample_processes(state2, ctx)
    assert state3.tracked[os.getpid()].static is state2.tracked[os.getpid()].static


def test_a_process_that_execs_shows_its_new_program() -> None:
    ctx = context(LIST_PLUGINS)
    script = "import os, sys; print('ready', flush=True); sys.stdin.readline(); "
    script += "os.execvp('sleep', ['sleep', '30'])"
    command = [sys.executable, "-c", script]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            assert child.stdout.readline() == b"ready\n"
            _, state = sample_processes(None, ctx)
            static = state.tracked[child.pid].static
            assert static is not None and static.cmdline[1:2] == ("-c",)
            child.stdin.write(b"go\n")
            child.stdin.flush()
            comm = Path(f"/proc/{child.pid}/comm")
            sync_until(lambda: comm.read_text().strip() == "sleep", interval=0.01)
            data, _ = sample_processes(state, ctx)
            entry = by_pid(data["processlist"])[child.pid]
            assert (entry["name"], entry["cmdline"]) == ("sleep", ["sleep", "30"])
            assert entry["io_counters"][4] == 1  # the same process, known since last round
        finally:
            child.kill()


def test_static_details_are_read_again_after_a_minute() -> None:
    ctx = context(LIST_PLUGINS)
    _, state = sample_processes(None, ctx)
    me = state.tracked[os.getpid()]
    assert me.static is not None
    old = me.static._replace(name="renamed", read_at=me.static.read_at - processes.STATIC_REFRESH)
    previous = dataclasses.replace(
        state, tracked={**state.tracked, os.getpid(): me._replace(static=old)}
    )
    data, _ = sample_processes(previous, ctx)
    assert by_pid(data["processlist"])[os.getpid()]["name"] == psutil.Process().name()


def test_extended_stats_for_the_requested_pid_only() -> None:
    ctx = context(LIST_PLUGINS, extended_pid=os.getpid())
    _, state = sample_processes(None, ctx)
    data, _ = sample_processes(state, ctx)
    entries = by_pid(data["processlist"])
    me = entries[os.getpid()]
    assert set(me) == PROCESS_FIELDS | EXTENDED_FIELDS and me["extended_stats"] is True
    assert me["cpu_affinity"] == sorted(os.sched_getaffinity(0))
    assert abs(me["num_fds"] - psutil.Process().num_fds()) <= 2
    assert set(me["num_ctx_switches"]) == {"voluntary", "involuntary"}
    assert isinstance(me["ionice"], list) and len(me["ionice"]) == 2
    assert isinstance(me["tcp"], int) and isinstance(me["udp"], int)
    assert me["memory_swap"] is None or me["memory_swap"] >= 0
    others = [e for pid, e in entries.items() if pid != os.getpid()]
    assert not any("extended_stats" in e for e in others)


def test_processcount_alone_skips_the_lists() -> None:
    ctx = context(["processcount"])
    _, state = sample_processes(None, ctx)
    data, state2 = sample_processes(state, ctx)
    assert set(data) == {"processcount"}
    assert all(t.static is None and t.io is None for t in state2.tracked.values())


def test_programlist_alone_is_produced_without_processlist() -> None:
    ctx = context(["programlist"])
    _, state = sample_processes(None, ctx)
    data, _ = sample_processes(state, ctx)
    assert set(data) == {"programlist"}
    assert sum(p["nprocs"] for p in data["programlist"]) > 0


def test_group_programs_sums_and_shares() -> None:
    def proc(pid: int, user: str, cpu: float, io: list[int]) -> dict[str, Any]:
        return {
            "pid": pid, "name": "worker", "username": user, "nice": 0, "status": "S",
            "gids": {"real": 0, "effective": 0, "saved": 0}, "cpu_percent": cpu,
            "memory_percent": 1.5, "num_threads": 2, "memory_info": {"rss": 10, "vms": 20},
            "cpu_times": {"user": 1.0, "system": 0.5}, "io_counters": io,
            "time_since_update": 2.0,
        }  # fmt: skip

    members = [proc(1, "root", 0.1, [10, 20, 5, 5, 1]), proc(2, "www", 0.2, [7, 0, 7, 0, 0])]
    lone = {**proc(3, "root", 50.0, [0, 0, 0, 0, 0]), "name": "solo"}
    programs = group_programs([*members, lone])
    assert [p["name"] for p in programs] == ["solo", "worker"]  # sorted by CPU
    worker = programs[1]
    assert worker["childrens"] == [1, 2] and worker["nprocs"] == 2
    assert worker["cpu_percent"] == 0.3 and worker["memory_percent"] == 3.0
    assert worker["num_threads"] == 4
    assert worker["memory_info"] == {"rss": 20, "vms": 40}
    assert worker["cpu_times"] == {"user": 2.0, "system": 1.0}
    assert worker["io_counters"] == [17, 20, 12, 5, 1]
    assert worker["username"] == "_" and worker["status"] == "S" and worker["nice"] == 0
    assert members[0]["memory_info"] == {"rss": 10, "vms": 20}  # the entries are untouched
    assert members[0]["io_counters"] == [10, 20, 5, 5, 1]


def test_extended_stats_of_a_process_that_just_ended_are_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def ended(proc: psutil.Process) -> dict[str, Any]:
        raise psutil.NoSuchProcess(proc.pid)

    monkeypatch.setattr(processes, "extended_stats", ended)
    ctx = context(LIST_PLUGINS, extended_pid=os.getpid())
    _, state = sample_processes(None, ctx)
    data, _ = sample_processes(state, ctx)
    assert set(by_pid(data["processlist"])[os.getpid()]) == PROCESS_FIELDS


FIXTURES = Path(__file__).parent / "fixtures" / "proc"


def test_parses_real_proc_files_through_a_root_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fixtures/proc`` holds copies of real ``/proc/<pid>`` files: kthreadd (pid 2, a
    kernel thread: empty cmdline, zero memory), a ``sleep`` started as
    ``very-long-program-name`` (the kernel truncates its name to 15 characters), a
    Python whose name is ``odd) (name`` (parentheses inside the name); 9200 is 9129
    with a setproctitle-style command line and other ids; 9300 vanished (no stat)."""
    monkeypatch.setattr(processes, "PROC_ROOT", str(FIXTURES))
    ctx = context(LIST_PLUGINS)
    first, state = sample_processes(None, ctx)
    assert first["processcount"]["total"] == 4
    data, _ = sample_processes(state, ctx)
    assert data["processcount"] == {
        "total": 4, "running": 0, "sleeping": 4, "thread": 4, "pid_max": state.pid_max,
    }  # fmt: skip
    got = by_pid(data["processlist"])
    assert set(got) == {2, 9129, 9130, 9200}
    assert all(set(e) == PROCESS_FIELDS for e in got.values())
    page, tick = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    kthread = got[2]
    assert (kthread["name"], kthread["cmdline"], kthread["username"]) == ("kthreadd", [], "root")
    assert (kthread["status"], kthread["nice"], kthread["num_threads"]) == ("S", 0, 1)
    assert set(kthread["memory_info"].values()) == {0}
    assert kthread["io_counters"] == [0, 0, 0, 0, 1]
    assert kthread["gids"] == {"real": 0, "effective": 0, "saved": 0}
    sleeper = got[9129]
    assert sleeper["name"] == "very-long-program-name"
    assert sleeper["cmdline"] == ["/tmp/prof/very-long-program-name", "300"]
    assert sleeper["memory_info"] == {
        "rss": 457 * page, "vms": 730 * page, "shared": 429 * page, "text": 5 * page,
        "lib": 0, "data": 89 * page, "dirty": 0,
    }  # fmt: skip
    odd = got[9130]
    assert odd["name"] == "odd) (name"
    assert odd["cmdline"][:2] == ["/root/.pyenv/versions/3.11.7/bin/python3", "-c"]
    # stat: utime 3, stime 0, cutime 2, cstime 1 ticks; delayacct_blkio_ticks 0
    assert odd["cpu_times"] == {
        "user": 3 / tick, "system": 0.0, "children_user": 2 / tick,
        "children_system": 1 / tick, "iowait": 0.0,
    }  # fmt: skip
    assert odd["cpu_percent"] == 0.0  # the same file twice: no CPU used in between
    assert odd["memory_percent"] == pytest.approx(3394 * page / psutil.virtual_memory().total * 100)
    retitled = got[9200]
    assert retitled["cmdline"] == ["nginx:", "worker", "process"]
    assert retitled["gids"] == {"real": 33, "effective": 34, "saved": 35}
    try:
        www = pwd.getpwuid(33).pw_name
    except KeyError:
        www = "33"
    assert retitled["username"] == www


def test_the_same_values_as_psutil(sleepers: list[subprocess.Popen[bytes]]) -> None:
    """The direct /proc reads give what psutil gives, for processes that do not change
    between the two readings (sleepers, the kernel's threads) and for this one."""
    ctx = context(LIST_PLUGINS)
    _, state = sample_processes(None, ctx)
    data, _ = sample_processes(state, ctx)
    got = by_pid(data["processlist"])
    kernel = [e["pid"] for e in got.values() if e["cmdline"] == [] and e["pid"] != 1][:5]
    assert kernel, "no kernel thread to compare"
    for pid in [s.pid for s in sleepers] + kernel:
        proc, entry = psutil.Process(pid), got[pid]
        assert entry["name"] == proc.name()
        assert entry["cmdline"] == proc.cmdline()
        assert entry["username"] == proc.username()
        assert entry["gids"] == proc.gids()._asdict()
        assert entry["nice"] == proc.nice()
        assert entry["num_threads"] == proc.num_threads()
        assert entry["status"] == processes_status_letter(proc.status())
        assert entry["memory_info"] == proc.memory_info()._asdict()
        assert entry["cpu_times"] == proc.cpu_times()._asdict()
        io = proc.io_counters()
        assert entry["io_counters"][:2] == [io.read_bytes, io.write_bytes]
    me = psutil.Process()
    assert got[os.getpid()]["name"] == me.name() and got[os.getpid()]["cmdline"] == me.cmdline()

    # The count equals psutil's for a sample no process started or ended around (other
    # tests' children and the machine's own come and go: wait for a still moment
    # rather than allow a margin a busy host can exceed).
    def count_matches_a_still_pid_set() -> bool:
        before = set(psutil.pids())
        sampled, _ = sample_processes(state, ctx)
        after = set(psutil.pids())
        return before == after and sampled["processcount"]["total"] == len(after)

    sync_until(count_matches_a_still_pid_set)


def processes_status_letter(status: str) -> str:
    """psutil's status name back to the kernel's letter."""
    letters = {
        "running": "R", "sleeping": "S", "disk-sleep": "D", "stopped": "T",
        "tracing-stop": "t", "zombie": "Z", "dead": "X", "idle": "I", "parked": "P",
    }  # fmt: skip
    return letters[status]
