"""Where the history stage keeps its series on disk: one SQLite database in WAL mode.

Every method is blocking: the stage calls them in a worker thread.  A lock serializes
them, so a call abandoned at shutdown (a hung disk) can never overlap the next one.

Errors come out as two exceptions:

* :class:`StoreUnavailable`: the disk cannot be used now (read-only, full, I/O error,
  locked); the stage keeps its series in memory and tries again later;
* a corrupt, unreadable or foreign database is never an error: :meth:`HistoryStore.open`
  logs it, moves it aside (``history.sqlite.corrupt-<epoch>``) and starts empty.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

#: ``PRAGMA user_version`` of the schema below
SCHEMA_VERSION = 2

# IF NOT EXISTS: two connections opening a new file at once (statbus and a reader) both
# find it empty; the second to create finds the tables made and changes nothing
_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id     INTEGER PRIMARY KEY,
    plugin TEXT NOT NULL,
    name   TEXT NOT NULL,
    UNIQUE (plugin, name)
);
-- v has no declared type: an int stays an int, a float a float, a list is JSON bytes.
-- A rowid table with no index: points are appended in time order, so a write touches the
-- table's last page or two, not one page per series.
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL REFERENCES series (id),
    ts     REAL NOT NULL,
    v
);
"""

#: version 1 kept ``points`` as a ``WITHOUT ROWID`` table keyed on ``(series, ts)``: a
#: write of one round's points dirtied a page per series (328 KiB of WAL per write for 72
#: series, against 8.8 KiB now); :meth:`HistoryStore.open` converts it, keeping every point
_MIGRATE_FROM_1 = """
ALTER TABLE points RENAME TO points_v1;
CREATE TABLE points (
    series INTEGER NOT NULL REFERENCES series (id),
    ts     REAL NOT NULL,
    v
);
INSERT INTO points (series, ts, v) SELECT series, ts, v FROM points_v1 ORDER BY ts;
DROP TABLE points_v1;
"""

SeriesKey = tuple[str, str]  # (plugin, name)
Value = int | float | list[float]
Row = tuple[str, str, float, Value]  # (plugin, name, ts, value)
Loaded = dict[SeriesKey, list[tuple[float, Any]]]  # per series, oldest point first


class StoreUnavailable(Exception):
    """The database cannot be opened or written now; try again later."""


class _Unusable(Exception):
    """The file is corrupt, unreadable or not ours: move it aside."""


_SERIES_COLUMNS = ("id", "plugin", "name")
_POINTS_COLUMNS = ("series", "ts", "v")


def _columns(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    return tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))


class HistoryStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._ids: dict[SeriesKey, int] = {}
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    # -- opening ---------------------------------------------------------------------

    def open(self, plugins: Iterable[str], limit: int) -> Loaded:
        """Open (or create) the database and return the newest ``limit`` points of every
        series of ``plugins``, oldest first."""
        with self._lock:
            self._close()
            try:
                try:
                    self._connect()
                except _Unusable as exc:
                    self._close()
                    self._move_aside(str(exc))
                    self._connect()
                return self._load(tuple(plugins), limit)
            except (_Unusable, sqlite3.Error, OSError) as exc:
                self._close()
                raise StoreUnavailable(f"{self.path}: {exc}") from exc

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            if not os.access(self.path.parent, os.W_OK):  # a read-only disk: wait
                raise OSError(f"{self.path} is read-only")
            raise _Unusable("the file is not readable and writable by this user")
        conn = sqlite3.connect(
            self.path, timeout=5.0, isolation_level=None, check_same_thread=False
        )
        self._conn = conn
        try:
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise _Unusable("PRAGMA quick_check failed")
            # one statement, so one snapshot: read apart, a file another connection was
            # creating that instant looked like tables without a version, "not ours"
            version, tables = conn.execute(
                "SELECT (SELECT user_version FROM pragma_user_version),"
                " (SELECT count(*) FROM sqlite_master)"
            ).fetchone()
            if version == 0 and tables == 0:
                conn.executescript(
                    f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            elif version not in (1, SCHEMA_VERSION):
                raise _Unusable(f"not a statbus history database (user_version {version})")
            elif (
                _columns(conn, "series") != _SERIES_COLUMNS
                or _columns(conn, "points") != _POINTS_COLUMNS
            ):
                raise _Unusable("not a statbus history database (unexpected tables)")
            elif version == 1:
                log.info("history: converting %s to the version %d layout", self.path, 2)
                conn.executescript(
                    f"BEGIN; {_MIGRATE_FROM_1} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            # WAL: readers never block the writer, and a commit is one append to the log.
            # synchronous=NORMAL: a process crash loses nothing committed; a power cut
            # may lose the last commits (a few seconds of points), never the database.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Writes are appends and reads happen once, at start: a small page cache
            # (SQLite's default is 2 MiB) keeps the footprint small.
            conn.execute("PRAGMA cache_size = -512")
        except sqlite3.OperationalError:
            raise  # the disk, not the file: StoreUnavailable, retried later
        except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed"
            raise _Unusable(str(exc)) from exc

    def _load(self, plugins: tuple[str, ...], limit: int) -> Loaded:
        assert self._conn is not None
        conn = self._conn
        self._ids = {
            (plugin, name): sid
            for sid, plugin, name in conn.execute("SELECT id, plugin, name FROM series")
        }
        wanted = {sid: key for key, sid in self._ids.items() if key[0] in plugins}
        # One pass over the table (there is no index to seek with); a point written twice
        # (a rewrite interrupted before its commit cannot leave one, but an older file
        # might) counts once, the last written.
        by_series: dict[int, dict[float, Any]] = {}
        for sid, ts, v in conn.execute("SELECT series, ts, v FROM points ORDER BY rowid"):
            if sid in wanted:
                by_series.setdefault(sid, {})[ts] = v
        loaded: Loaded = {}
        for sid, points in by_series.items():
            newest = sorted(points.items())[-limit:] if limit > 0 else []
            if newest:
                loaded[wanted[sid]] = [(ts, _decode(v)) for ts, v in newest]
        return loaded

    def _move_aside(self, why: str) -> None:
        suffix = f".corrupt-{int(time.time())}"
        aside = self.path.with_name(self.path.name + suffix)
        log.error("history: cannot use %s (%s); moving it to %s", self.path, why, aside)
        for extra in ("", "-wal", "-shm"):
            path = self.path.with_name(self.path.name + extra)
            if path.exists():
                path.replace(self.path.with_name(self.path.name + suffix + extra))

    # -- writing ---------------------------------------------------------------------

    def write(
        self,
        rows: Sequence[Row],
        *,
        keep_from: Mapping[SeriesKey, float] | None = None,
        dropped: Iterable[SeriesKey] = (),
        replace: bool = False,
    ) -> None:
        """In one transaction: delete the ``dropped`` series; with ``replace``, delete the
        points on disk of every series in ``rows`` (``rows`` are then all of them);
        append ``rows``; delete the points older than ``keep_from[series]``."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreUnavailable(f"{self.path}: not open")
            try:
                conn.execute("BEGIN")
                try:
                    self._write(conn, rows, keep_from, dropped, replace)
                    conn.execute("COMMIT")
                except BaseException:
                    self._ids.clear()  # ids made in this transaction are gone
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self._close()
                raise StoreUnavailable(f"{self.path}: {exc}") from exc

    def _write(
        self,
        conn: sqlite3.Connection,
        rows: Sequence[Row],
        keep_from: Mapping[SeriesKey, float] | None,
        dropped: Iterable[SeriesKey],
        replace: bool,
    ) -> None:
        gone = [sid for key in dropped if (sid := self._ids.pop(key, None)) is not None]
        if gone:  # first: a series may be back in ``rows``
            conn.executemany("DELETE FROM series WHERE id = ?", [(sid,) for sid in gone])
            _delete_points(conn, {sid: math.inf for sid in gone})
        if replace:
            ids = {self._ids[(p, n)] for p, n, _, _ in rows if (p, n) in self._ids}
            _delete_points(conn, dict.fromkeys(ids, math.inf))
        conn.executemany(
            "INSERT INTO points (series, ts, v) VALUES (?, ?, ?)",
            [(self._series_id(conn, p, n), ts, _encode(v)) for p, n, ts, v in rows],
        )
        if keep_from:
            _delete_points(
                conn, {self._ids[k]: ts for k, ts in keep_from.items() if k in self._ids}
            )

    def _series_id(self, conn: sqlite3.Connection, plugin: str, name: str) -> int:
        sid = self._ids.get((plugin, name))
        if sid is None:
            conn.execute(
                "INSERT INTO series (plugin, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (plugin, name),
            )
            row = conn.execute(
                "SELECT id FROM series WHERE plugin = ? AND name = ?", (plugin, name)
            ).fetchone()
            sid = self._ids[(plugin, name)] = int(row[0])
        return sid

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        self._ids = {}
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                log.warning("history: closing %s: %s", self.path, exc)


def _delete_points(conn: sqlite3.Connection, before: Mapping[int, float]) -> None:
    """Delete each series' points older than ``before[series]`` (``inf``: all of them), in
    one pass over the table (it has no index: appending stays cheap, deleting scans)."""
    if not before:
        return
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS keep_from (series INTEGER PRIMARY KEY, ts)")
    conn.execute("DELETE FROM temp.keep_from")
    conn.executemany(
        "INSERT INTO temp.keep_from (series, ts) VALUES (?, ?)",
        [(sid, ts if math.isfinite(ts) else None) for sid, ts in before.items()],
    )
    # ts NULL: every point of the series
    conn.execute(
        "DELETE FROM points WHERE rowid IN (SELECT p.rowid FROM points p "
        "JOIN temp.keep_from k ON k.series = p.series WHERE k.ts IS NULL OR p.ts < k.ts)"
    )


def _encode(value: Value) -> int | float | bytes:
    return orjson.dumps(value) if isinstance(value, list) else value


def _decode(value: Any) -> Any:
    """The stored value; ``None`` (the point is skipped) for a damaged one."""
    if isinstance(value, bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return float("nan") if value is None else value  # SQLite stores NaN as NULL
