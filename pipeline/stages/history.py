"""The history stage: one bounded series per stat the reference keeps a history of.

It subscribes to ``stats`` losslessly (one point per sample, none skipped) and appends
one point per ``StatEvent`` to each of the plugin's series (its descriptor's ``history``),
named as the reference names them: the field for dict plugins (``user``),
``<key value>_<field>`` for list plugins (``eth0_bytes_recv_rate_per_sec``,
``/_percent``, ``0_user``).

A series is a ring of ``history_size`` points in two ``array('d')`` (timestamps, values):
16 bytes a point, against ~120 for a deque of tuples.  Points are also buffered for a
writer task that commits them to SQLite (:mod:`pipeline.stages.history_store`) every
``history_write_interval`` seconds (1) from a worker thread, so neither the sampler path
nor the trio loop waits on the disk.  At start the series are loaded back, so they
survive a restart.

Query methods (``plugin_history``, ``item_history``) are plain synchronous reads for the
API; ``nb`` follows the reference: the points ``[-nb:]`` (0: all; 3: the newest 3;
-3: all but the oldest 3).
"""

from __future__ import annotations

import logging
import math
from array import array
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import trio

from pipeline import codec
from pipeline.backoff import exponential
from pipeline.bus import Bus, Policy, Subscription
from pipeline.config import Config, data_dir
from pipeline.events import StatEvent
from pipeline.plugins import HISTORY_FIELDS, PLUGINS
from pipeline.stages.history_store import (
    HistoryStore,
    Loaded,
    Row,
    SeriesKey,
    StoreUnavailable,
    Value,
)
from pipeline.topics import STATS_TOPIC

log = logging.getLogger(__name__)

FILE_NAME = "history.sqlite"
#: a pending-write buffer larger than this (the disk is stuck) is dropped; the whole
#: memory is written again once the disk answers
MAX_PENDING = 100_000
RETRY_INITIAL = 5.0
RETRY_MAX = 300.0
#: how often the points that left the memory are deleted from the disk (a pass over the
#: whole table, ~10 ms for 40 000 points: rare, so that appending stays cheap)
PRUNE_INTERVAL = 600.0
#: at start, wait at most this long for the database to open and load
OPEN_TIMEOUT = 10.0
#: at shutdown, wait at most this long for the last write
FINAL_WRITE_TIMEOUT = 2.0

_STAT_TAG = codec.tag_of(StatEvent)


class Series:
    """A ring of at most ``capacity`` points ``(ts, value)``, oldest first.

    ``width`` 0: scalar values; ``width`` n: every value is a list of n floats (the
    ``quicklook`` ``percpu`` series).  ``integral``: every value appended was an int
    (served as ints, as the reference serves ``processcount``).
    """

    __slots__ = ("capacity", "width", "integral", "last_seen", "_ts", "_values", "_start")

    def __init__(self, capacity: int, width: int = 0) -> None:
        self.capacity = capacity
        self.width = width
        self.integral = True
        self.last_seen = 0  # the plugin's sample count when this series last got a point
        self._ts = array("d")
        self._values = array("d")
        self._start = 0  # physical index of the oldest point once full

    def __len__(self) -> int:
        return len(self._ts)

    def append(self, ts: float, value: Value) -> None:
        if not isinstance(value, int):
            self.integral = False
        w = self.width
        if len(self._ts) < self.capacity:
            self._ts.append(ts)
            if w:
                self._values.extend(value)  # type: ignore[arg-type]
            else:
                self._values.append(value)  # type: ignore[arg-type]
            return
        i = self._start
        self._ts[i] = ts
        if w:
            self._values[i * w : (i + 1) * w] = array("d", value)  # type: ignore[arg-type]
        else:
            self._values[i] = value  # type: ignore[assignment]
        self._start = (i + 1) % self.capacity

    @property
    def oldest_ts(self) -> float:
        return self._ts[self._start] if self._ts else math.inf

    def points(self, nb: int = 0) -> Iterator[tuple[float, Value]]:
        """The points ``[-nb:]``, oldest first."""
        n = len(self._ts)
        w = self.width
        for k in range(n)[-nb:]:
            i = (self._start + k) % n
            if w:
                yield self._ts[i], self._values[i * w : (i + 1) * w].tolist()
            elif self.integral:
                yield self._ts[i], int(self._values[i])
            else:
                yield self._ts[i], self._values[i]


def value_of(raw: Any) -> Value | None:
    """A point's value: a number, or a list of per-CPU totals (quicklook ``percpu``,
    whose stat is a list of per-CPU dicts); ``None`` (no point) for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return raw
    if isinstance(raw, list) and raw:
        totals: list[float] = []
        for entry in raw:
            total = entry.get("total") if isinstance(entry, dict) else entry
            if isinstance(total, bool) or not isinstance(total, int | float):
                return None
            totals.append(float(total))
        return totals
    return None


def history_points(plugin: str, data: Any) -> Iterator[tuple[str, Value]]:
    """``(series name, value)`` of one sample of ``plugin``, named as the reference."""
    fields = HISTORY_FIELDS.get(plugin, ())
    if isinstance(data, dict):
        for f in fields:
            value = value_of(data.get(f))
            if value is not None:
                yield f, value
    elif isinstance(data, list):
        info = PLUGINS.get(plugin)
        for entry in data:
            if not isinstance(entry, dict):
                continue
            # A plugin statbus does not know yet (gpu, containers) names its key field in
            # each entry, as every Glances list plugin does ("key": "gpu_id").
            key_field = info.key if info is not None and info.key else entry.get("key")
            key = entry.get(key_field) if isinstance(key_field, str) else None
            if key is None:
                continue
            for f in fields:
                value = value_of(entry.get(f))
                if value is not None:
                    yield f"{key}_{f}", value


def iso_utc(ts: float) -> str:
    """``2026-11-27T15:16:21.001338+00:00``: always with the microseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


class HistoryStage:
    """``HistoryStage(bus, config, plugins)``: ``plugins`` are the enabled plugins (those
    without history are ignored); ``store`` replaces the default
    ``HistoryStore(data_dir(config) / "history.sqlite")``, used only when
    ``history_persist`` is on.  ``flush_interval`` replaces ``history_write_interval``;
    the intervals are for tests."""

    def __init__(
        self,
        bus: Bus,
        config: Config,
        plugins: Iterable[str],
        *,
        store: HistoryStore | None = None,
        flush_interval: float | None = None,
        prune_interval: float = PRUNE_INTERVAL,
        retry_initial: float = RETRY_INITIAL,
    ) -> None:
        self._bus = bus
        self.size = config.global_.history_size
        #: the plugins that keep a history (none when ``history_size`` is 0)
        self.plugins: tuple[str, ...] = (
            tuple(p for p in plugins if p in HISTORY_FIELDS) if self.size > 0 else ()
        )
        self._series: dict[str, dict[str, Series]] = {p: {} for p in self.plugins}
        self._samples: dict[str, int] = dict.fromkeys(self.plugins, 0)
        persist = config.global_.history_persist and bool(self.plugins)
        if persist and store is None:
            store = HistoryStore(data_dir(config) / FILE_NAME)
        self.store = store if persist else None
        self._flush_interval = (
            config.global_.history_write_interval if flush_interval is None else flush_interval
        )
        self._prune_interval = prune_interval
        self._pending: list[Row] = []
        #: set when there is something to write: the writer sleeps while there is not
        self._to_write = trio.Event()
        self._dropped: set[SeriesKey] = set()
        self._resync = False  # write every point in memory at the next flush
        self._retry_at = math.inf
        self._retry_initial = retry_initial
        self._failures = 0  # consecutive failed writes (the backoff)

    # -- the pipeline side ---------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if not self.plugins:
            task_status.started()
            return
        with self._bus.subscribe(
            STATS_TOPIC, name="history", policy=Policy.LOSSLESS, maxsize=256
        ) as sub:
            # Subscribed first, loaded second: no sample is missed while loading.
            if self.store is not None:
                await self._open_store()
            task_status.started()
            try:
                async with trio.open_nursery() as nursery:
                    if self.store is not None:
                        nursery.start_soon(self._write_loop)
                    await self._consume(sub)
                    nursery.cancel_scope.cancel()
            finally:
                if self.store is not None:
                    with trio.move_on_after(FINAL_WRITE_TIMEOUT, shield=True):
                        await self._flush(final=True)

    async def _consume(self, sub: Subscription) -> None:
        await sub.consume_raw(self._take)

    def _take(self, raw: bytes) -> None:
        try:
            tag, (plugin,) = codec.head(raw, 1)
            if tag != _STAT_TAG or plugin not in self._series:
                return  # not decoded at all (processlist is big and keeps no history)
            event = codec.decode(raw)
        except codec.CodecError:
            log.exception("history: dropping an event that does not decode")
            return
        self.add(event)

    def add(self, event: StatEvent) -> None:
        """Append one point per series of ``event``'s plugin."""
        series = self._series.get(event.plugin)
        if series is None:
            return
        count = self._samples[event.plugin] = self._samples[event.plugin] + 1
        buffering = self.store is not None
        for name, value in history_points(event.plugin, event.data):
            s = self._ensure(event.plugin, name, value)
            s.append(event.ts, value)
            s.last_seen = count
            if buffering:
                self._pending.append((event.plugin, name, event.ts, value))
        if buffering and not self._to_write.is_set():
            self._to_write.set()
        if count % 64 == 0:
            self._expire(event.plugin, count)
        if len(self._pending) > MAX_PENDING:
            self._pending.clear()
            self._resync = True

    def _ensure(self, plugin: str, name: str, value: Value) -> Series:
        width = len(value) if isinstance(value, list) else 0
        s = self._series[plugin].get(name)
        if s is None or s.width != width:  # new, or the number of CPUs changed
            s = self._series[plugin][name] = Series(self.size, width)
        return s

    def _expire(self, plugin: str, count: int) -> None:
        """Forget series with no point in the plugin's last ``history_size`` samples (an
        interface or disk that went away), so memory stays bounded on hosts where
        containers come and go."""
        series = self._series[plugin]
        gone = [n for n, s in series.items() if count - s.last_seen >= self.size]
        for name in gone:
            del series[name]
            self._dropped.add((plugin, name))
        if gone and self._pending:
            names = set(gone)
            self._pending = [r for r in self._pending if r[0] != plugin or r[1] not in names]

    # -- persistence -----------------------------------------------------------------

    async def _open_store(self) -> bool:
        assert self.store is not None
        # A hung disk (stale NFS) must not hold up start-up: give up on it for now.
        loaded: Loaded | None = None
        with trio.move_on_after(OPEN_TIMEOUT):
            try:
                loaded = await trio.to_thread.run_sync(
                    self.store.open, self.plugins, self.size, abandon_on_cancel=True
                )
            except StoreUnavailable as exc:
                self._unavailable(exc)
                return False
        if loaded is None:
            self._unavailable(StoreUnavailable(f"{self.store.path}: no answer in {OPEN_TIMEOUT}s"))
            return False
        self._merge(loaded)
        self._retry_at = math.inf
        self._failures = 0
        return True

    def _merge(self, loaded: Loaded) -> None:
        """Put points read from disk before the ones already in memory."""
        for (plugin, name), points in loaded.items():
            current = self._series[plugin].get(name)
            oldest = current.oldest_ts if current is not None else math.inf
            merged = [p for p in points if p[0] < oldest]
            if current is not None:
                merged.extend(current.points())
            fresh: Series | None = None
            for ts, value in merged[-self.size :]:
                if value_of(value) is None:
                    continue
                width = len(value) if isinstance(value, list) else 0
                if fresh is None or fresh.width != width:
                    fresh = Series(self.size, width)
                fresh.append(ts, value)
            if fresh is not None:
                fresh.last_seen = current.last_seen if current is not None else 0
                self._series[plugin][name] = fresh

    def _unavailable(self, exc: Exception) -> None:
        self._failures += 1
        delay = exponential(self._failures, self._retry_initial, RETRY_MAX)
        self._retry_at = trio.current_time() + delay
        log.warning(
            "history: cannot write to disk (%s); keeping history in memory, retrying in %gs",
            exc,
            delay,
        )
        # Memory holds every point: once the disk is back, write them all again.
        self._resync = True
        self._pending.clear()
        self._dropped.clear()

    async def _write_loop(self) -> None:
        """Flush what came in, at most once per flush interval, and only when something
        came in (an idle statbus, or one with a long refresh, does not wake for nothing)."""
        last = trio.current_time()
        next_prune = last + self._prune_interval
        while True:
            await self._to_write.wait()
            # A write slower than the interval skips beats rather than bursting.
            await trio.sleep_until(max(last + self._flush_interval, trio.current_time()))
            self._to_write = trio.Event()
            last = trio.current_time()
            prune = last >= next_prune
            if prune:
                next_prune = last + self._prune_interval
            await self._flush(prune=prune)

    async def _flush(self, *, prune: bool = False, final: bool = False) -> None:
        """Write the points buffered since the last flush, in one transaction."""
        store = self.store
        assert store is not None
        if not store.is_open:
            if final or trio.current_time() < self._retry_at:
                self._pending.clear()  # memory has them; a resync writes them
                return
            if not await self._open_store():
                return
        replace = self._resync
        if replace:
            rows = self._all_rows()
            self._resync = False
            prune = True
        else:
            rows = self._pending
        self._pending = []
        dropped, self._dropped = self._dropped, set()
        keep_from = (
            {(p, n): s.oldest_ts for p, ss in self._series.items() for n, s in ss.items()}
            if prune
            else None
        )
        if not rows and not dropped and not keep_from and not final:
            return
        try:
            await trio.to_thread.run_sync(
                self._write,
                store,
                rows,
                keep_from,
                dropped,
                final,
                replace,
                abandon_on_cancel=True,
            )
        except StoreUnavailable as exc:
            self._unavailable(exc)
        except Exception as exc:  # a bug: keep serving from memory, try again later
            log.exception("history: writing to %s failed", store.path)
            await trio.to_thread.run_sync(store.close, abandon_on_cancel=True)
            self._unavailable(exc)

    @staticmethod
    def _write(
        store: HistoryStore,
        rows: list[Row],
        keep_from: dict[SeriesKey, float] | None,
        dropped: set[SeriesKey],
        final: bool,
        replace: bool,
    ) -> None:
        try:
            store.write(rows, keep_from=keep_from, dropped=dropped, replace=replace)
        finally:
            if final:
                store.close()

    def _all_rows(self) -> list[Row]:
        return [
            (plugin, name, ts, value)
            for plugin, series in self._series.items()
            for name, s in series.items()
            for ts, value in s.points()
        ]

    # -- synchronous reads for the API -----------------------------------------------

    def plugin_history(self, plugin: str, nb: int = 0) -> dict[str, list[list[Any]]]:
        """``{series name: [[iso ts, value], ...]}``, the points ``[-nb:]`` of each."""
        iso: dict[float, str] = {}  # the series of one plugin share their timestamps
        return {name: _listed(s, nb, iso) for name, s in self._series.get(plugin, {}).items()}

    def item_history(self, plugin: str, item: str, nb: int = 0) -> list[list[Any]] | None:
        """``[[iso ts, value], ...]`` of one series, or ``None`` if it does not exist."""
        s = self._series.get(plugin, {}).get(item)
        return None if s is None else _listed(s, nb, {})


def _listed(s: Series, nb: int, iso: dict[float, str]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for ts, value in s.points(nb):
        text = iso.get(ts)
        if text is None:
            text = iso[ts] = iso_utc(ts)
        out.append([text, value])
    return out
