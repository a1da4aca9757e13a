"""The state stage: the latest stats of every plugin, and their JSON made once.

It subscribes to ``stats`` (latest-wins: a stalled reader skips stale samples, it never
slows a sampler) and keeps, per plugin, the decoded data and its JSON encoding, so the
API serves ``/all`` and ``/<plugin>`` as bytes without encoding per request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import orjson
import trio

from pipeline.bus import Bus, Policy
from pipeline.events import StatEvent
from pipeline.plugins import PLUGINS
from pipeline.samplers.runner import STATS_TOPIC

log = logging.getLogger(__name__)


def to_json(data: Any) -> bytes:
    """Compact JSON as the API serves it (NaN and infinities become ``null``)."""
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


class StateStage:
    def __init__(self, bus: Bus, plugins: Iterable[str]) -> None:
        self._bus = bus
        self.plugins: tuple[str, ...] = tuple(plugins)
        self._data: dict[str, Any] = {p: PLUGINS[p].empty() for p in self.plugins}
        self._json: dict[str, bytes] = {p: to_json(v) for p, v in self._data.items()}
        self._ts: dict[str, float] = {}
        self._all: bytes | None = None
        self.version = 0
        self._first_round = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._bus.subscribe(
            STATS_TOPIC, name="state", policy=Policy.LATEST_WINS, maxsize=256
        ) as sub:
            task_status.started()
            async for event in sub:
                if isinstance(event, StatEvent):
                    self.update(event)

    def update(self, event: StatEvent) -> None:
        if event.plugin not in self._data:
            return
        self._data[event.plugin] = event.data
        self._json[event.plugin] = to_json(event.data)
        self._ts[event.plugin] = event.ts
        self._all = None
        self.version += 1
        if not self._first_round.is_set() and len(self._ts) == len(self.plugins):
            self._first_round.set()

    async def wait_first_round(self) -> None:
        """Return once every plugin has been sampled at least once."""
        await self._first_round.wait()

    # -- synchronous reads for the API -----------------------------------------------

    def get(self, plugin: str) -> Any:
        return self._data[plugin]

    def get_json(self, plugin: str) -> bytes:
        return self._json[plugin]

    def updated_at(self, plugin: str) -> float | None:
        return self._ts.get(plugin)

    def all_json(self) -> bytes:
        """``{plugin: stats}`` for every enabled plugin, assembled from cached JSON."""
        if self._all is None:
            parts = [b'"%s":%s' % (p.encode(), self._json[p]) for p in self.plugins]
            self._all = b"{" + b",".join(parts) + b"}"
        return self._all
