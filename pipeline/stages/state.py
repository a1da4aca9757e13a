"""The state stage: the latest stats of every plugin, and their JSON made once.

It subscribes to ``stats`` (latest-wins: a stalled reader skips stale samples, it never
slows a sampler) and keeps, per plugin, the latest encoded event.  The decoded data and
its JSON are made from it **at most once per sample**, on the first request that needs
them, and then served as bytes until the next sample: ``/all`` and ``/<plugin>`` are
never encoded per request, and a sample nobody asks for (Home Assistant polls once a
minute, plugins refresh every 2 s) costs no decoding or JSON at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import orjson
import trio

from pipeline import codec
from pipeline.bus import Bus, Policy
from pipeline.events import StatEvent
from pipeline.plugins import PLUGINS
from pipeline.topics import STATS_TOPIC

log = logging.getLogger(__name__)

_STAT_TAG = codec.tag_of(StatEvent)


def to_json(data: Any) -> bytes:
    """Compact JSON as the API serves it (NaN and infinities become ``null``)."""
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


class StateStage:
    def __init__(self, bus: Bus, plugins: Iterable[str]) -> None:
        self._bus = bus
        self.plugins: tuple[str, ...] = tuple(plugins)
        self._raw: dict[str, bytes] = {}  # latest encoded StatEvent, not decoded yet
        self._data: dict[str, Any] = {p: PLUGINS[p].empty() for p in self.plugins}
        self._json: dict[str, bytes] = {}
        self._ts: dict[str, float] = {}
        self._all: bytes | None = None
        self.version = 0
        self._first_round = trio.Event()
        #: the plugins a first round waits for (``help`` is never published: it is null)
        self._published = {p for p in self.plugins if PLUGINS[p].kind != "none"}
        if not self._published:  # nothing to wait for
            self._first_round.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._bus.subscribe(
            STATS_TOPIC, name="state", policy=Policy.LATEST_WINS, maxsize=256
        ) as sub:
            task_status.started()
            await sub.consume_raw(self._take)

    def _take(self, raw: bytes) -> None:
        try:
            self.update_raw(raw)
        except codec.CodecError:
            log.exception("state: dropping an event that does not decode")

    def update_raw(self, raw: bytes) -> None:
        """Take an encoded ``StatEvent``; only its plugin and timestamp are read now."""
        tag, (plugin, ts) = codec.head(raw, 2)
        if tag != _STAT_TAG or plugin not in self._data:
            return
        self._raw[plugin] = raw
        self._stored(plugin, ts)

    def update(self, event: StatEvent) -> None:
        """Take a decoded ``StatEvent`` (tests, and stages that hold one already)."""
        if event.plugin not in self._data:
            return
        self._raw.pop(event.plugin, None)
        self._data[event.plugin] = event.data
        self._stored(event.plugin, event.ts)

    def _stored(self, plugin: str, ts: float) -> None:
        self._json.pop(plugin, None)
        self._ts[plugin] = ts
        self._all = None
        self.version += 1
        if not self._first_round.is_set() and self._published <= self._ts.keys():
            self._first_round.set()

    async def wait_first_round(self) -> None:
        """Return once every plugin has been sampled at least once."""
        await self._first_round.wait()

    # -- synchronous reads for the API -----------------------------------------------

    def get(self, plugin: str) -> Any:
        raw = self._raw.pop(plugin, None)
        if raw is not None:
            event = codec.decode(raw)
            self._data[plugin] = event.data
        return self._data[plugin]

    def get_json(self, plugin: str) -> bytes:
        cached = self._json.get(plugin)
        if cached is None:
            cached = self._json[plugin] = to_json(self.get(plugin))
        return cached

    def updated_at(self, plugin: str) -> float | None:
        return self._ts.get(plugin)

    def all_json(self) -> bytes:
        """``{plugin: stats}`` for every enabled plugin, assembled from cached JSON."""
        if self._all is None:
            parts = [b'"%s":%s' % (p.encode(), self.get_json(p)) for p in self.plugins]
            self._all = b"{" + b",".join(parts) + b"}"
        return self._all
