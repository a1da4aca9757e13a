"""What the history stage holds in memory with every default series full.

    python tests/benchmarks/history_memory.py [--cpus 8] [--interfaces 8] [--disks 8]
                                              [--mounts 8] [--size 1200]

Fills a ``HistoryStage`` (``history_size`` points, persistence off: the series are the
memory; the SQLite side holds only the last second's pending rows and a page cache
capped at 512 KiB) with ``--size`` samples of every plugin that keeps a history, as a
host with that many CPUs, interfaces, disks and mounts produces them, through
``HistoryStage.add`` (what ``run`` does with each decoded event).  The figure is the
Python heap the stage holds afterwards, measured with ``tracemalloc``; for comparison,
the same points as a ``collections.deque`` of ``(ts, value)`` tuples per series.

``--io`` also times the SQLite side with the same data: one sample's rows written in one
transaction (what the writer task does each second, in a worker thread), a prune, and
the load at start of a full database.

Not collected by pytest (no ``test_`` prefix).  The target is < 8 MB.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import tempfile
import time
import tracemalloc
from collections import deque
from pathlib import Path
from typing import Any

from pipeline.bus import Bus
from pipeline.config import load
from pipeline.events import StatEvent
from pipeline.plugins import HISTORY_FIELDS
from pipeline.stages.history import HistoryStage, history_points
from pipeline.stages.history_store import HistoryStore

T0 = 1_795_792_581.0


def sample(plugin: str, i: int, args: argparse.Namespace) -> Any:
    """One sample of ``plugin`` with every kept field, values varying per sample."""
    x = float(i % 97) + 0.5

    def entries(key: str, names: list[Any]) -> list[dict[str, Any]]:
        return [
            {key: n, "key": key, **{f: x + j for f in HISTORY_FIELDS[plugin]}}
            for j, n in enumerate(names)
        ]

    if plugin == "percpu":
        return entries("cpu_number", list(range(args.cpus)))
    if plugin == "network":
        return entries("interface_name", [f"eth{j}" for j in range(args.interfaces)])
    if plugin == "diskio":
        return entries("disk_name", [f"sd{chr(97 + j)}" for j in range(args.disks)])
    if plugin == "fs":
        return entries("mnt_point", ["/"] + [f"/mnt/data{j}" for j in range(1, args.mounts)])
    if plugin == "processcount":
        return {"total": 300 + i % 7, "running": 1, "sleeping": 290, "thread": 900}
    if plugin == "quicklook":
        percpu = [{"cpu_number": j, "total": x + j} for j in range(args.cpus)]
        return {"cpu": x, "percpu": percpu, "mem": x, "swap": x, "load": x}
    return {f: x for f in HISTORY_FIELDS[plugin]}


def io_figures(args: argparse.Namespace, plugins: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite"
        store = HistoryStore(path)
        store.open(plugins, args.size)
        writes = []
        for i in range(args.size):
            rows = [
                (p, name, T0 + 2 * i, value)
                for p in plugins
                for name, value in history_points(p, sample(p, i, args))
            ]
            t0 = time.perf_counter()
            store.write(rows)
            writes.append(time.perf_counter() - t0)
        # WAL pages a write dirties: checkpoint, write 10 samples, count the frames
        watcher = sqlite3.connect(path)
        watcher.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for i in range(args.size, args.size + 10):
            store.write(
                [
                    (p, name, T0 + 2 * i, value)
                    for p in plugins
                    for name, value in history_points(p, sample(p, i, args))
                ]
            )
        frames = watcher.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] / 10
        page = watcher.execute("PRAGMA page_size").fetchone()[0]
        watcher.close()
        keep_from = {
            (p, n): T0 + 2 for p in plugins for n, _ in history_points(p, sample(p, 0, args))
        }
        t0 = time.perf_counter()
        store.write([], keep_from=keep_from)
        prune = time.perf_counter() - t0
        store.close()
        t0 = time.perf_counter()
        reader = HistoryStore(path)
        loaded = reader.open(plugins, args.size)
        load = time.perf_counter() - t0
        reader.close()
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    writes.sort()
    print(
        f"sqlite: {len(rows)} rows a sample, write median {writes[len(writes) // 2] * 1e3:.2f} ms"
        f" (p99 {writes[len(writes) * 99 // 100] * 1e3:.2f} ms); prune {prune * 1e3:.1f} ms;"
        f" load at start {load * 1e3:.0f} ms ({sum(map(len, loaded.values()))} points);"
        f" files {size / 1e6:.1f} MB; WAL per write {frames:g} pages"
        f" ({frames * page / 1024:.1f} KiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1200)
    parser.add_argument("--cpus", type=int, default=8)
    parser.add_argument("--interfaces", type=int, default=8)
    parser.add_argument("--disks", type=int, default=8)
    parser.add_argument("--mounts", type=int, default=8)
    parser.add_argument("--io", action="store_true", help="also time the SQLite side")
    args = parser.parse_args()
    plugins = [p for p in HISTORY_FIELDS if p not in ("gpu", "containers")]

    with tempfile.TemporaryDirectory() as tmp:
        config = load(
            overrides={
                "global.data_dir": tmp,
                "global.history_size": args.size,
                "global.history_persist": False,
            }
        )
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        stage = HistoryStage(Bus(), config, plugins)
        for i in range(args.size):
            for plugin in plugins:
                stage.add(StatEvent(plugin, T0 + 2 * i, i + 1, sample(plugin, i, args)))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base

        series = sum(len(stage.plugin_history(p)) for p in plugins)
        points = sum(len(pts) for p in plugins for pts in stage.plugin_history(p).values())
        del stage
        gc.collect()

        # the same points as one deque of (ts, value) tuples per series, for comparison
        base = tracemalloc.get_traced_memory()[0]
        deques: dict[tuple[str, str], deque[tuple[float, Any]]] = {}
        for i in range(args.size):
            for plugin in plugins:
                for name, value in history_points(plugin, sample(plugin, i, args)):
                    key = (plugin, name)
                    if key not in deques:
                        deques[key] = deque(maxlen=args.size)
                    deques[key].append((T0 + 2 * i, value))
        gc.collect()
        as_deques = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()

    print(
        f"host: {args.cpus} CPUs, {args.interfaces} interfaces, {args.disks} disks, "
        f"{args.mounts} mounts; history_size {args.size}"
    )
    print(f"series: {series}, points: {points}")
    print(f"history stage holds: {held / 1e6:.2f} MB ({held / points:.1f} bytes per point)")
    print(f"as deques of (ts, value) tuples it would be about: {as_deques / 1e6:.2f} MB")
    print(f"target: < 8 MB -> {'met' if held < 8e6 else 'NOT met'}")
    if args.io:
        io_figures(args, plugins)


if __name__ == "__main__":
    main()
