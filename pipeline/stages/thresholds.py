"""The threshold stage: every sample judged against its limits, views published.

It subscribes to ``stats`` **losslessly**: the alert stage opens and closes events from
the verdicts published here, so no sample may be skipped.  For each ``StatEvent`` of a
plugin that threshold rules judge (cpu, load, mem, memswap, quicklook, fs, network,
diskio, sensors, wifi, connections, gpu, containers, folders, ports, amps, raid) it
computes the views (:func:`pipeline.plugins.judge.compute_views`),
keeps the latest views per plugin and the held levels (for hysteresis), and publishes a
``ViewsEvent`` on ``views``.

The other plugins' views are all ``DEFAULT`` (processlist's ``nice``/``status`` are
decorated, for display only): nothing on the bus needs them, and
processlist's alone would be ~600 KB of msgpack every 2 s for every ``views``
subscriber to decode.  For those the stage keeps the latest encoded sample, without
decoding it, and makes the views on the first request (at most once per sample).
The API reads limits and views through plain synchronous methods.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import psutil
import trio

from pipeline import codec
from pipeline.bus import Bus, Policy
from pipeline.config import Config
from pipeline.events import StatEvent, ViewsEvent
from pipeline.plugins import PLUGINS
from pipeline.plugins.judge import Memo, compute_views, effective_limits, has_rules, limits_document
from pipeline.topics import STATS_TOPIC, VIEWS_TOPIC

log = logging.getLogger(__name__)


_STAT_TAG = codec.tag_of(StatEvent)


class ThresholdStage:
    def __init__(
        self, bus: Bus, config: Config, plugins: Iterable[str], *, ncpu: int | None = None
    ) -> None:
        self._bus = bus
        self.plugins: tuple[str, ...] = tuple(plugins)
        # The reference sizes the iowait and context-switch defaults by the CPU count.
        self._ncpu = ncpu or psutil.cpu_count() or 1
        sampled = [p for p in self.plugins if PLUGINS[p].sampled]
        self._limits = {p: effective_limits(p, config.plugins[p], self._ncpu) for p in sampled}
        self._documents = {p: limits_document(p, config, self._ncpu) for p in self.plugins}
        self._hysteresis = {p: config.plugins[p].hysteresis for p in sampled}
        self._views: dict[str, Any] = {}
        self._unjudged: dict[str, bytes] = {}  # latest encoded sample, views not made yet
        self._held: dict[str, dict[str, int]] = {}
        self._levels: dict[str, dict[str, int]] = {}
        self._memos: dict[str, Memo] = {p: {} for p in sampled}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._bus.subscribe(
            STATS_TOPIC, name="thresholds", policy=Policy.LOSSLESS, maxsize=64
        ) as sub:
            task_status.started()
            # A round's samples arrive together: they are judged in one wake-up and
            # their verdicts handed on together, in order.
            async for batch in sub.batches():
                verdicts = [v for raw in batch if (v := self._take(raw)) is not None]
                if verdicts and self._bus.has_subscribers(VIEWS_TOPIC):
                    await self._bus.publish_many(VIEWS_TOPIC, verdicts)

    def _take(self, raw: bytes) -> bytes | None:
        """Judge one encoded sample; its encoded verdict, if it gets one."""
        try:
            tag, (plugin,) = codec.head(raw, 1)
            if tag != _STAT_TAG or plugin not in self._limits:
                return None
            if not has_rules(plugin):
                self._unjudged[plugin] = raw
                self._views.pop(plugin, None)
                return None
            event = codec.decode(raw)
        except codec.CodecError:
            log.exception("thresholds: dropping an event that does not decode")
            return None
        verdict = self.judge(event)
        if verdict is None or not self._bus.has_subscribers(VIEWS_TOPIC):
            return None
        return codec.encode(verdict)

    def judge(self, event: StatEvent) -> ViewsEvent | None:
        """Judge one sample, remember its views and held levels; ``None`` if the plugin
        is not served or its data cannot be judged (logged)."""
        plugin = event.plugin
        if plugin not in self._limits:
            return None
        try:
            verdict = compute_views(
                plugin,
                event.data,
                self._limits[plugin],
                self._held.get(plugin),
                self._hysteresis[plugin],
                self._cpucore(event.data),
                self._memos[plugin],
            )
        except Exception:  # a bug on odd data must not stop the judging of later samples
            log.exception("thresholds: cannot judge a sample of %s", plugin)
            return None
        self._views[plugin] = verdict.views
        self._held[plugin] = verdict.held
        self._levels[plugin] = verdict.levels
        return ViewsEvent(plugin, event.ts, verdict.views, verdict.alerts, verdict.levels)

    def _cpucore(self, data: Any) -> int:
        if isinstance(data, dict):
            cores = data.get("cpucore")
            if isinstance(cores, int) and not isinstance(cores, bool) and cores > 0:
                return cores
        return self._ncpu

    # -- synchronous reads for the API -----------------------------------------------

    def limits(self, plugin: str) -> dict[str, Any]:
        """``/<plugin>/limits`` (``KeyError`` for a plugin this stage does not serve)."""
        return self._documents[plugin]

    def all_limits(self) -> dict[str, Any]:
        return {p: self._documents[p] for p in self.plugins}

    def views(self, plugin: str) -> Any:
        """The latest views of ``plugin``; ``{}`` before its first sample."""
        raw = self._unjudged.pop(plugin, None)
        if raw is not None:
            event = codec.decode(raw)
            self._views[plugin] = compute_views(plugin, event.data, self._limits[plugin]).views
        return self._views.get(plugin, {})

    def levels(self, plugin: str) -> dict[str, int]:
        """The latest ``{stat_name: 0..3}`` of ``plugin``."""
        return dict(self._levels.get(plugin, {}))
