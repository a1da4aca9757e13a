"""The history stage: series names, ring bound, nb, ISO timestamps, persistence."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from pipeline.bus import Bus
from pipeline.config import Config, load
from pipeline.events import StatEvent
from pipeline.stages.history import HistoryStage
from pipeline.stages.history_store import HistoryStore, StoreUnavailable
from pipeline.topics import STATS_TOPIC
from tests.polling import until

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20+00:00
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
ALL = ["cpu", "percpu", "load", "mem", "network", "fs", "processcount", "quicklook", "system"]


def make_config(tmp_path: Path, **global_: Any) -> Config:
    # writes every 0.1 s, not every 1: the tests wait for the disk
    overrides = {"global.data_dir": str(tmp_path / "data"), "global.history_write_interval": 0.1}
    overrides.update({f"global.{k}": v for k, v in global_.items()})
    return load(overrides=overrides)


def memory_stage(tmp_path: Path, **global_: Any) -> HistoryStage:
    return HistoryStage(Bus(), make_config(tmp_path, history_persist=False, **global_), ALL)


def cpu(i: int) -> StatEvent:
    return StatEvent("cpu", T0 + i, i, {"total": 5.0, "user": float(i), "system": 0.5})


def values(points: list[list[Any]]) -> list[Any]:
    return [v for _, v in points]


@asynccontextmanager
async def running(stage: HistoryStage) -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        await nursery.start(stage.run)
        yield nursery
        nursery.cancel_scope.cancel()


async def publish(bus: Bus, *events: StatEvent) -> None:
    for event in events:
        await bus.publish(STATS_TOPIC, event)
    await trio.testing.wait_all_tasks_blocked()


# -- names and values -----------------------------------------------------------------


def test_series_are_named_as_the_reference(tmp_path: Path) -> None:
    stage = memory_stage(tmp_path)
    samples = {
        "cpu": {"total": 9.0, "user": 7.5, "system": 1.5, "idle": 90.0},
        "percpu": [
            {"cpu_number": 0, "key": "cpu_number", "user": 3.0, "system": 1.0},
            {"cpu_number": 1, "key": "cpu_number", "user": 4.0, "system": 2.0},
        ],
        "load": {"min1": 0.5, "min5": 0.25, "min15": 0.125, "cpucore": 2},
        "mem": {"percent": 41.5, "total": 100},
        "network": [
            {
                "interface_name": "eth0",
                "key": "interface_name",
                "bytes_recv_rate_per_sec": 100.0,
                "bytes_sent_rate_per_sec": 50.0,
                "bytes_recv": 200,
            }
        ],
        "fs": [{"mnt_point": "/", "key": "mnt_point", "percent": 61.2, "size": 10}],
        "processcount": {"total": 312, "running": 1, "sleeping": 250, "thread": 900},
        "quicklook": {
            "cpu": 12.5,
            "percpu": [{"cpu_number": 0, "total": 10.0}, {"cpu_number": 1, "total": 15.0}],
            "mem": 41.5,
            "swap": 0.0,
            "load": 3.1,
        },
        "system": {"hostname": "box"},
    }
    for plugin, data in samples.items():
        stage.add(StatEvent(plugin, T0, 1, data))

    def latest(plugin: str) -> dict[str, Any]:
        return {name: pts[-1][1] for name, pts in stage.plugin_history(plugin).items()}

    assert latest("cpu") == {"user": 7.5, "system": 1.5}
    assert latest("percpu") == {"0_user": 3.0, "0_system": 1.0, "1_user": 4.0, "1_system": 2.0}
    assert latest("load") == {"min1": 0.5, "min5": 0.25, "min15": 0.125}
    assert latest("mem") == {"percent": 41.5}
    assert latest("network") == {
        "eth0_bytes_recv_rate_per_sec": 100.0,
        "eth0_bytes_sent_rate_per_sec": 50.0,
    }
    assert latest("fs") == {"/_percent": 61.2}
    # counts stay integers, as the reference serves them
    counts = latest("processcount")
    assert counts == {"total": 312, "running": 1, "sleeping": 250, "thread": 900}
    assert all(type(v) is int for v in counts.values())
    # quicklook percpu: the list of per-CPU totals
    assert latest("quicklook") == {
        "cpu": 12.5,
        "percpu": [10.0, 15.0],
        "mem": 41.5,
        "swap": 0.0,
        "load": 3.1,
    }
    assert stage.item_history("quicklook", "percpu") == [
        [
            "2026-09-21T14:13:20.000000+00:00",
            [10.0, 15.0],
        ]
    ]


def test_a_plugin_without_history_answers_empty(tmp_path: Path) -> None:
    stage = memory_stage(tmp_path)
    assert stage.plugin_history("cpu") == {}  # nothing sampled yet
    stage.add(StatEvent("system", T0, 1, {"hostname": "box"}))
    assert stage.plugin_history("system") == {}
    assert stage.item_history("system", "hostname") is None
    assert stage.item_history("cpu", "user") is None
    stage.add(cpu(1))
    assert stage.item_history("cpu", "idle") is None  # not a kept field


def test_future_list_plugins_name_series_by_their_key_field(tmp_path: Path) -> None:
    stage = HistoryStage(Bus(), make_config(tmp_path, history_persist=False), ["containers"])
    stage.add(StatEvent("containers", T0, 1, [{"name": "web", "key": "name", "cpu_percent": 3.5}]))
    assert values(stage.plugin_history("containers")["web_cpu_percent"]) == [3.5]


def test_timestamps_are_iso_utc_with_microseconds(tmp_path: Path) -> None:
    stage = memory_stage(tmp_path)
    stage.add(StatEvent("mem", 1_795_792_581.001338, 1, {"percent": 1.0}))
    stage.add(StatEvent("mem", 1_795_792_582.0, 2, {"percent": 2.0}))
    ts = [t for t, _ in stage.plugin_history("mem")["percent"]]
    assert ts[0] == "2026-11-27T15:16:21.001338+00:00"
    assert ts[1] == "2026-11-27T15:16:22.000000+00:00"  # zero microseconds still written
    assert all(ISO.match(t) for t in ts)


# -- ring and nb ------------------------------------------------------------------------


def test_each_series_keeps_history_size_points(tmp_path: Path) -> None:
    stage = memory_stage(tmp_path, history_size=3)
    for i in range(1, 8):
        stage.add(cpu(i))
    assert values(stage.plugin_history("cpu")["user"]) == [5.0, 6.0, 7.0]
    assert len(stage.plugin_history("cpu")["system"]) == 3


@pytest.mark.parametrize(
    ("nb", "expected"),
    [
        (0, [1.0, 2.0, 3.0, 4.0, 5.0]),  # everything
        (2, [4.0, 5.0]),  # the newest 2
        (9, [1.0, 2.0, 3.0, 4.0, 5.0]),
        (-2, [3.0, 4.0, 5.0]),  # [-nb:] = [2:]: all but the oldest 2
        (-5, []),
    ],
)
def test_nb_slices_as_the_reference(tmp_path: Path, nb: int, expected: list[float]) -> None:
    stage = memory_stage(tmp_path)
    for i in range(1, 6):
        stage.add(cpu(i))
    assert values(stage.plugin_history("cpu", nb)["user"]) == expected
    assert values(stage.item_history("cpu", "user", nb) or []) == expected


def test_nb_on_a_wrapped_ring(tmp_path: Path) -> None:
    stage = memory_stage(tmp_path, history_size=4)
    for i in range(1, 7):
        stage.add(cpu(i))
    assert values(stage.item_history("cpu", "user", 0) or []) == [3.0, 4.0, 5.0, 6.0]
    assert values(stage.item_history("cpu", "user", 3) or []) == [4.0, 5.0, 6.0]
    assert values(stage.item_history("cpu", "user", -1) or []) == [4.0, 5.0, 6.0]


def test_a_vanished_interface_is_forgotten(tmp_path: Path) -> None:
    stage = memory_stage(tmp_path, history_size=4)

    def net(i: int, *names: str) -> StatEvent:
        entries = [
            {"interface_name": n, "key": "interface_name", "bytes_recv_rate_per_sec": 1.0}
            for n in names
        ]
        return StatEvent("network", T0 + i, i, entries)

    stage.add(net(1, "eth0", "veth1"))
    assert "veth1_bytes_recv_rate_per_sec" in stage.plugin_history("network")
    for i in range(2, 130):
        stage.add(net(i, "eth0"))
    assert list(stage.plugin_history("network")) == ["eth0_bytes_recv_rate_per_sec"]


def test_history_size_zero_turns_history_off(tmp_path: Path) -> None:
    stage = HistoryStage(Bus(), make_config(tmp_path, history_size=0), ALL)
    stage.add(cpu(1))
    assert stage.plugin_history("cpu") == {}
    assert stage.store is None


# -- through the bus --------------------------------------------------------------------


async def test_one_point_per_sample(tmp_path: Path) -> None:
    bus = Bus()
    stage = HistoryStage(bus, make_config(tmp_path, history_persist=False), ALL)
    with trio.fail_after(30):
        async with running(stage):
            # one burst, as a sampler family publishes: a latest-wins subscriber would
            # drop what does not fit its queue
            await bus.publish_many(STATS_TOPIC, [cpu(i).to_msgpack() for i in range(1, 301)])
            await trio.testing.wait_all_tasks_blocked()
            await publish(bus, StatEvent("processlist", T0, 1, [{"pid": 1, "key": "pid"}]))
            assert values(stage.plugin_history("cpu")["user"]) == [float(i) for i in range(1, 301)]
    assert not (tmp_path / "data").exists()  # history_persist = false writes nothing


# -- persistence ------------------------------------------------------------------------


def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite"


def on_disk(tmp_path: Path) -> dict[tuple[str, str], list[tuple[float, Any]]]:
    """What a second reader of the database sees now (WAL: it never blocks the writer)."""
    if not db_path(tmp_path).exists():
        return {}
    reader = HistoryStore(db_path(tmp_path))
    try:
        return reader.open(["cpu"], 100)
    except StoreUnavailable:  # the stage holds a lock this instant (a new file): not yet
        return {}
    finally:
        reader.close()


async def wait_on_disk(tmp_path: Path, points: int) -> None:
    """Until a reader sees ``points`` points of cpu ``user``."""
    await until(lambda: len(on_disk(tmp_path).get(("cpu", "user"), [])) >= points)


def record_flushes(stage: HistoryStage, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The (trio) times at which ``stage`` starts each flush, from now on."""
    flushes: list[float] = []
    real_flush = stage._flush

    async def counted(**kwargs: Any) -> None:
        flushes.append(trio.current_time())
        await real_flush(**kwargs)

    monkeypatch.setattr(stage, "_flush", counted)
    return flushes


async def test_history_survives_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path, history_size=5)
    net = [
        {"interface_name": "eth0", "key": "interface_name", "bytes_recv_rate_per_sec": 8.0},
    ]
    quick = {"cpu": 1.5, "percpu": [{"total": 1.0}, {"total": 2.0}], "mem": 3.0}
    with trio.fail_after(30):
        bus = Bus()
        first = HistoryStage(bus, config, ALL)
        async with running(first):
            await publish(bus, *(cpu(i) for i in range(1, 8)))
            await publish(
                bus,
                StatEvent("network", T0, 1, net),
                StatEvent("processcount", T0, 1, {"total": 300}),
                StatEvent("quicklook", T0, 1, quick),
            )
        before = {p: first.plugin_history(p) for p in ALL}
        assert db_path(tmp_path).exists()

        bus = Bus()
        second = HistoryStage(bus, config, ALL)
        async with running(second):
            assert {p: second.plugin_history(p) for p in ALL} == before
            assert values(second.plugin_history("cpu")["user"]) == [3.0, 4.0, 5.0, 6.0, 7.0]
            assert second.item_history("processcount", "total") == [
                ["2026-09-21T14:13:20.000000+00:00", 300]
            ]
            # new points go after the loaded ones, and the ring stays bounded
            await publish(bus, cpu(8))
            assert values(second.plugin_history("cpu")["user"]) == [4.0, 5.0, 6.0, 7.0, 8.0]


async def test_points_reach_the_disk_while_running(tmp_path: Path) -> None:
    """A crash (no shutdown write) loses at most the last flush interval."""
    config = make_config(tmp_path)
    bus = Bus()
    stage = HistoryStage(bus, config, ALL, flush_interval=0.05)
    with trio.fail_after(30):
        async with running(stage):
            await publish(bus, cpu(1), cpu(2))
            await wait_on_disk(tmp_path, 2)
    assert [v for _, v in on_disk(tmp_path)[("cpu", "user")]] == [1.0, 2.0]


async def test_history_write_interval_spaces_the_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[global] history_write_interval``: points wait for the next write."""
    config = make_config(tmp_path, history_write_interval=1.5)
    bus = Bus()
    stage = HistoryStage(bus, config, ALL)
    flushes = record_flushes(stage, monkeypatch)
    with trio.fail_after(30):
        async with running(stage):
            await publish(bus, cpu(1))
            await wait_on_disk(tmp_path, 1)
            await publish(bus, cpu(2))
            await wait_on_disk(tmp_path, 2)
    assert [v for _, v in on_disk(tmp_path)[("cpu", "user")]] == [1.0, 2.0]
    # 1.5 s after the first write, not before (the default was once 1 s)
    assert flushes[1] - flushes[0] >= 1.5 - 0.01, flushes


async def test_old_points_are_pruned_from_the_disk(tmp_path: Path) -> None:
    config = make_config(tmp_path, history_size=3)
    bus = Bus()
    stage = HistoryStage(bus, config, ALL, flush_interval=0.02, prune_interval=0.02)

    def stored() -> int:
        with closing(sqlite3.connect(db_path(tmp_path))) as conn:
            count: int = conn.execute("SELECT count(*) FROM points").fetchone()[0]
        return count

    with trio.fail_after(30):
        async with running(stage):
            await publish(bus, *(cpu(i) for i in range(1, 11)))
            await wait_on_disk(tmp_path, 3)
            await until(lambda: stored() == 6)  # user and system, 3 points each


async def test_a_corrupt_database_is_moved_aside(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    path.parent.mkdir(parents=True)
    garbage = b"this is not an SQLite database" * 100
    path.write_bytes(garbage)
    config = make_config(tmp_path)
    with trio.fail_after(30):
        bus = Bus()
        stage = HistoryStage(bus, config, ALL)
        async with running(stage):
            await publish(bus, cpu(1))
            assert values(stage.plugin_history("cpu")["user"]) == [1.0]
    aside = list(path.parent.glob("history.sqlite.corrupt-*"))
    assert [p.read_bytes() for p in aside] == [garbage]
    # the new database works: a restart sees the point
    second = HistoryStage(Bus(), config, ALL)
    with trio.fail_after(30):
        async with running(second):
            assert values(second.plugin_history("cpu")["user"]) == [1.0]


async def test_a_foreign_database_with_our_version_number_is_moved_aside(
    tmp_path: Path,
) -> None:
    path = db_path(tmp_path)
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.executescript("CREATE TABLE other (x); PRAGMA user_version = 1;")
    conn.close()
    config = make_config(tmp_path)
    with trio.fail_after(30):
        bus = Bus()
        stage = HistoryStage(bus, config, ALL)
        async with running(stage):
            await publish(bus, cpu(1))
            await wait_on_disk(tmp_path, 1)
    assert len(list(path.parent.glob("history.sqlite.corrupt-*"))) == 1
    assert [v for _, v in on_disk(tmp_path)[("cpu", "user")]] == [1.0]


async def test_an_unwritable_data_dir_keeps_history_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")  # works as root too
    config = make_config(tmp_path)
    bus = Bus()
    stage = HistoryStage(bus, config, ALL, flush_interval=0.02, retry_initial=0.05)
    with trio.fail_after(30):
        async with running(stage):
            await publish(bus, cpu(1), cpu(2))
            await trio.sleep(0.1)  # flushes and a retry fail; the stage keeps going
            assert values(stage.plugin_history("cpu")["user"]) == [1.0, 2.0]
            blocker.unlink()  # the disk is back: a retry writes what memory holds
            await publish(bus, cpu(3))
            await wait_on_disk(tmp_path, 3)
    second = HistoryStage(Bus(), config, ALL)
    with trio.fail_after(30):
        async with running(second):
            assert values(second.plugin_history("cpu")["user"]) == [1.0, 2.0, 3.0]


def test_memory_with_every_default_series_full_is_under_8_mb(tmp_path: Path) -> None:
    """The issue's bound: 1200 points in every default series of a host with 8 CPUs,
    8 interfaces, 8 disks and 8 mounts (tests/benchmarks/history_memory.py prints the
    figure; here it is held to the bound)."""
    import argparse
    import gc
    import tracemalloc

    from pipeline.config import load
    from pipeline.events import StatEvent
    from pipeline.plugins import HISTORY_FIELDS
    from tests.benchmarks.history_memory import T0, sample

    host = argparse.Namespace(cpus=8, interfaces=8, disks=8, mounts=8)
    plugins = [p for p in HISTORY_FIELDS if p not in ("gpu", "containers")]
    config = load(overrides={"global.data_dir": str(tmp_path), "global.history_persist": False})
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        stage = HistoryStage(Bus(), config, plugins)
        for i in range(1200):
            for plugin in plugins:
                stage.add(StatEvent(plugin, T0 + 2 * i, i + 1, sample(plugin, i, host)))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    points = sum(len(pts) for p in plugins for pts in stage.plugin_history(p).values())
    assert points == 72 * 1200  # every series full
    assert held < 8 * 1024 * 1024, f"history holds {held / 1e6:.2f} MB"


async def test_the_writer_sleeps_while_nothing_comes_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle statbus (or one with a long refresh) does not wake its writer for
    nothing: a flush follows new points, at most once per flush interval."""
    config = make_config(tmp_path)
    bus = Bus()
    stage = HistoryStage(bus, config, ALL, flush_interval=0.02)
    flushes = record_flushes(stage, monkeypatch)
    with trio.fail_after(30):
        async with running(stage):
            await trio.sleep(0.3)  # fifteen flush intervals with nothing to write
            assert flushes == []
            await publish(bus, cpu(1), cpu(2))
            await wait_on_disk(tmp_path, 2)
            await trio.sleep(0.3)
            assert len(flushes) == 1


# --- the store's layout ------------------------------------------------------------------


def _round(i: int, series: int = 35) -> list[tuple[str, str, float, float]]:
    return [("cpu", f"s{n}", T0 + 2 * i, float(i)) for n in range(series)]


def test_a_write_appends_a_page_or_two_not_a_page_per_series(tmp_path: Path) -> None:
    """Version 1 keyed the points on (series, ts): a write of one round dirtied a page per
    series (~40 pages, 160 KiB of WAL, every round). Version 2 appends."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    store.open(["cpu"], 1200)
    for i in range(1200):
        store.write(_round(i))
    watcher = sqlite3.connect(path)
    try:
        watcher.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for i in range(1200, 1210):
            store.write(_round(i))
        _, frames, _ = watcher.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        watcher.close()
        store.close()
    assert frames / 10 <= 4, f"{frames / 10:g} pages written per round of 35 points"


def test_a_version_1_database_is_converted_with_its_points(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE series (id INTEGER PRIMARY KEY, plugin TEXT NOT NULL,
                             name TEXT NOT NULL, UNIQUE (plugin, name));
        CREATE TABLE points (series INTEGER NOT NULL REFERENCES series (id),
                             ts REAL NOT NULL, v, PRIMARY KEY (series, ts)) WITHOUT ROWID;
        PRAGMA user_version = 1;
        INSERT INTO series VALUES (1, 'cpu', 'user'), (2, 'cpu', 'system');
        """
    )
    conn.executemany(
        "INSERT INTO points VALUES (?, ?, ?)",
        [(sid, T0 + 2 * i, float(i)) for i in (2, 0, 1) for sid in (1, 2)],
    )
    conn.commit()
    conn.close()

    loaded = on_disk(tmp_path)

    assert [v for _, v in loaded[("cpu", "user")]] == [0.0, 1.0, 2.0]
    assert [v for _, v in loaded[("cpu", "system")]] == [0.0, 1.0, 2.0]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("SELECT count(rowid) FROM points").fetchone()[0] == 6
    finally:
        conn.close()
    assert not list(path.parent.glob("history.sqlite.corrupt-*"))


def test_a_rewrite_replaces_the_points_on_disk_and_keeps_other_plugins(tmp_path: Path) -> None:
    """After the disk came back the stage writes all it holds again (``replace``): no
    point twice, and the series of a plugin not written (disabled now) are left alone."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    store.open(["cpu", "mem"], 100)
    store.write([*_round(0, 2), *_round(1, 2), ("mem", "percent", T0, 5.0)])
    store.write([*_round(0, 2), *_round(1, 2), *_round(2, 2)], replace=True)
    loaded = store.open(["cpu", "mem"], 100)
    store.close()
    assert loaded == {
        ("cpu", "s0"): [(T0, 0.0), (T0 + 2, 1.0), (T0 + 4, 2.0)],
        ("cpu", "s1"): [(T0, 0.0), (T0 + 2, 1.0), (T0 + 4, 2.0)],
        ("mem", "percent"): [(T0, 5.0)],
    }


def test_pruning_and_dropping_delete_only_what_they_name(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path)
    store.open(["cpu"], 100)
    store.write([*_round(0, 3), *_round(1, 3), *_round(2, 3)])
    store.write(
        [], keep_from={("cpu", "s0"): T0 + 2, ("cpu", "s1"): T0 + 4}, dropped={("cpu", "s2")}
    )
    loaded = store.open(["cpu"], 100)
    store.close()
    assert loaded == {
        ("cpu", "s0"): [(T0 + 2, 1.0), (T0 + 4, 2.0)],
        ("cpu", "s1"): [(T0 + 4, 2.0)],
    }


def test_two_openers_of_a_new_file_both_succeed(tmp_path: Path) -> None:
    """statbus and a reader (a test, a second tool) opening a file that does not exist
    yet both find it empty; the second to create the tables must not fail."""
    import threading

    def open_it(path: Path, start: threading.Barrier, errors: list[BaseException]) -> None:
        store = HistoryStore(path)
        start.wait()
        try:
            store.open(["cpu"], 10)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            store.close()

    for attempt in range(20):
        errors: list[BaseException] = []
        start = threading.Barrier(2)
        path = tmp_path / f"h{attempt}.sqlite"
        threads = [threading.Thread(target=open_it, args=(path, start, errors)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # "database is locked" may happen (the stage retries it); "table series already
        # exists" did, for the one that created second, and must not
        assert all("locked" in str(e) for e in errors), errors
        assert HistoryStore(path).open(["cpu"], 10) == {}
    assert not list(tmp_path.glob("*.corrupt-*"))
