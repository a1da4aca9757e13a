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
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE series (
    id     INTEGER PRIMARY KEY,
    plugin TEXT NOT NULL,
    name   TEXT NOT NULL,
    UNIQUE (plugin, name)
);
-- v has no declared type: an int stays an int, a float a float, a list is JSON bytes
CREATE TABLE points (
    series INTEGER NOT NULL REFERENCES series (id),
    ts     REAL NOT NULL,
    v,
    PRIMARY KEY (series, ts)
) WITHOUT ROWID;
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
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if version == 0 and tables == 0:
                conn.executescript(
                    f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            elif version != SCHEMA_VERSION:
                raise _Unusable(f"not a statbus history database (user_version {version})")
            elif (
                _columns(conn, "series") != _SERIES_COLUMNS
                or _columns(conn, "points") != _POINTS_COLUMNS
            ):
                raise _Unusable("not a statbus history database (unexpected tables)")
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
        loaded: Loaded = {}
        for key, sid in self._ids.items():
            if key[0] not in plugins:
                continue
            rows = conn.execute(
                "SELECT ts, v FROM points WHERE series = ? ORDER BY ts DESC LIMIT ?",
                (sid, limit),
            ).fetchall()
            points = [(ts, _decode(v)) for ts, v in reversed(rows)]
            if points:
                loaded[key] = points
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
    ) -> None:
        """In one transaction: insert ``rows``; delete the points older than
        ``keep_from[series]``; delete the ``dropped`` series."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreUnavailable(f"{self.path}: not open")
            try:
                conn.execute("BEGIN")
                try:
                    for key in dropped:  # first: a series may be back in ``rows``
                        sid = self._ids.pop(key, None)
                        if sid is not None:
                            conn.execute("DELETE FROM points WHERE series = ?", (sid,))
                            conn.execute("DELETE FROM series WHERE id = ?", (sid,))
                    conn.executemany(
                        "INSERT OR REPLACE INTO points (series, ts, v) VALUES (?, ?, ?)",
                        [(self._series_id(conn, p, n), ts, _encode(v)) for p, n, ts, v in rows],
                    )
                    if keep_from:
                        conn.executemany(
                            "DELETE FROM points WHERE series = ? AND ts < ?",
                            [(self._ids[k], ts) for k, ts in keep_from.items() if k in self._ids],
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    self._ids.clear()  # ids made in this transaction are gone
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self._close()
                raise StoreUnavailable(f"{self.path}: {exc}") from exc

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
