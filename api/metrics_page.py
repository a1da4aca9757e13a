"""The Prometheus page: every plugin's numbers, the alerts and the pipeline's own
counters, read from the current state on each scrape (``docs/metrics.md``).

Nothing here holds a metric object between scrapes: two collectors (one for the plugins'
data, one for the alerts and the pipeline) turn what the stages hold *now* into metric
families, and ``prometheus_client``'s own exposition code formats them.  So an item that
vanished (an interface unplugged, a container removed) is simply not exported by the next
scrape, and nothing is updated per sample.

The alerts' and the pipeline's part is in :mod:`api.metrics_pipeline`.  The
plugins' part changes only with the state (``StateStage.version``), so its text is
kept per state version and content type: repeated scrapes within one sample format only
the small pipeline part.  Quart-free, like the stages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from pipeline.plugins import PLUGINS
from pipeline.stages.state import StateStage

log = logging.getLogger(__name__)

PREFIX = "statbus"
#: not exported field by field: the events list (the alert metrics say it better), and
#: the process lists (one series per process and field: thousands of series, a new set
#: at every pid; ``processcount`` has the totals)
SKIPPED = frozenset({"alert", "help", "processlist", "programlist"})
#: labels beside a list plugin's key: sensors of different types (°C, RPM, %) must not
#: mix in one series; two engines may each run a container or VM of the same name
EXTRA_LABELS: Mapping[str, tuple[str, ...]] = {
    "sensors": ("type",),
    "containers": ("engine",),
    "vms": ("engine",),
}
#: nested dicts are flattened this deep (containers' ``cpu.total``); deeper is skipped
MAX_DEPTH = 2
#: distinct content types whose plugins' text is kept for one state version
_CACHED_TYPES = 4
_OPENMETRICS_EOF = b"# EOF\n"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
#: the sample names a family writes besides its own name
_SUFFIXES = {"counter": ("_total", "_created"), "info": ("_info",)}


def metric_name(*parts: str) -> str:
    """``statbus_<parts>`` with every character outside ``[a-zA-Z0-9_]`` made ``_``."""
    return _INVALID.sub("_", "_".join((PREFIX, *parts)))


def label_name(name: str) -> str:
    name = _INVALID.sub("_", name)
    return "_" + name if name[:1].isdigit() else name


def number(value: Any) -> float | None:
    """A field's value as a sample: numbers as they are, booleans as 1 and 0, anything
    else (strings, null, lists) is not a sample."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def label_value(value: Any) -> str:
    return "" if value is None else str(value)


class Families:
    """Metric families by name.  Each family claims the sample names it writes, so that
    two fields can never produce the same series name (``x_total`` the counter and a
    gauge field ``x_total``): a later family that would is left out, as is a sample
    whose label names are not its family's, or whose series is written already (a
    nested ``memory.usage`` after the field ``memory_usage``: the first one wins)."""

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self._labels: dict[str, tuple[str, ...]] = {}
        self._taken: set[str] = set()
        self._series: set[tuple[str, tuple[str, ...]]] = set()

    def _family(self, kind: str, name: str, doc: str, labels: tuple[str, ...]) -> Metric | None:
        family = self.metrics.get(name)
        if family is not None:
            return family if family.type == kind and self._labels[name] == labels else None
        claims = {name, *(name + suffix for suffix in _SUFFIXES.get(kind, ()))}
        if claims & self._taken:
            return None
        self._taken |= claims
        if kind == "counter":
            family = CounterMetricFamily(name, doc, labels=labels)
        elif kind == "info":
            family = InfoMetricFamily(name, doc, labels=labels)
        else:
            family = GaugeMetricFamily(name, doc, labels=labels)
        self.metrics[name] = family
        self._labels[name] = labels
        return family

    def gauge(
        self, name: str, doc: str, value: float, labels: Mapping[str, str] | None = None
    ) -> None:
        family = self._family("gauge", name, doc, tuple(labels or ()))
        if isinstance(family, GaugeMetricFamily) and self._new(name, labels):
            family.add_metric(list((labels or {}).values()), value)

    def counter(
        self, name: str, doc: str, value: float, labels: Mapping[str, str] | None = None
    ) -> None:
        """``name`` without its ``_total``: the formats add it."""
        name = name.removesuffix("_total")
        family = self._family("counter", name, doc, tuple(labels or ()))
        if isinstance(family, CounterMetricFamily) and self._new(name, labels):
            family.add_metric(list((labels or {}).values()), value)

    def _new(self, name: str, labels: Mapping[str, str] | None) -> bool:
        """Whether this series is not written yet (if not, it is now)."""
        series = (name, tuple((labels or {}).values()))
        if series in self._series:
            return False
        self._series.add(series)
        return True

    def info(self, name: str, doc: str, value: Mapping[str, str]) -> None:
        family = self._family("info", name, doc, ())
        if isinstance(family, InfoMetricFamily) and not family.samples:
            family.add_metric([], dict(value))

    def __iter__(self) -> Iterator[Metric]:
        return iter(self.metrics.values())


# -- the plugins ---------------------------------------------------------------------


def add_fields(
    out: Families,
    plugin: str,
    path: tuple[str, ...],
    fields: Mapping[str, Any],
    labels: Mapping[str, str],
    skip: Iterable[str] = (),
    depth: int = 0,
) -> None:
    """One dict of a plugin's data: each number a gauge, each ``<x>_gauge`` (Glances'
    cumulative counter) and nested ``cumulative_<x>`` a counter ``<x>_total``; the delta
    ``<x>`` beside a ``<x>_gauge`` is left out (``increase()`` gives it, and its name is
    the counter's).  Nested dicts are flattened with ``_`` after the numbers, so a
    top-level field wins a name both would make (containers' ``memory_usage``)."""
    skipped = set(skip)
    counted = {f[: -len("_gauge")] for f in fields if f.endswith("_gauge")}
    nested = []
    where = "/".join((plugin, *path))
    for field, value in fields.items():
        if field in skipped or field in counted:
            continue
        if isinstance(value, dict):
            nested.append((field, value))
            continue
        sample = number(value)
        if sample is None:
            continue
        if field.endswith("_gauge"):
            base = field[: -len("_gauge")]
            doc = f"{field} of /api/4/{where}: the cumulative counter"
            out.counter(metric_name(plugin, *path, base), doc, sample, labels)
        elif depth and field.startswith("cumulative_"):
            doc = f"{field} of /api/4/{where}: a cumulative counter"
            out.counter(metric_name(plugin, *path, field), doc, sample, labels)
        else:
            out.gauge(
                metric_name(plugin, *path, field), f"{field} of /api/4/{where}", sample, labels
            )
    if depth < MAX_DEPTH - 1:
        for field, value in nested:
            add_fields(out, plugin, (*path, field), value, labels, depth=depth + 1)


def _smart(out: Families, data: Any) -> None:
    """One series per disk and attribute (the attributes are nested by their id)."""
    if not isinstance(data, list):
        return
    for disk in data:
        if not isinstance(disk, dict) or "DeviceName" not in disk:
            continue
        for attr_id, attr in disk.items():
            if not isinstance(attr, dict):
                continue
            labels = {
                "DeviceName": label_value(disk["DeviceName"]),
                "id": str(attr_id),
                "name": label_value(attr.get("name")),
            }
            for field in ("value", "worst", "threshold", "raw", "flags"):
                raw = attr.get(field)
                sample = number(raw)
                if sample is None and isinstance(raw, str):
                    try:
                        sample = float(raw)  # pySMART gives "067", "0"
                    except ValueError:
                        continue
                if sample is not None:
                    doc = f"{field} of a SMART attribute, /api/4/smart"
                    out.gauge(metric_name("smart", "attribute", field), doc, sample, labels)


def _ports_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` is a round-trip time, ``false`` (no answer) or null (not scanned): a
    0/1 ``reachable`` and the time only when there is one."""
    out = dict(item)
    status = out.pop("status", None)
    if status is not None:
        out["reachable"] = status is not False
        if not isinstance(status, bool) and isinstance(status, int | float):
            out["status"] = status
    return out


def add_plugin(out: Families, plugin: str, data: Any) -> None:
    """One plugin's current data as metric families."""
    info = PLUGINS[plugin]
    if plugin in SKIPPED or info.kind in ("value", "none"):
        return
    if plugin == "smart":
        _smart(out, data)
    elif plugin == "raid":  # arrays by name: the name is a label, not part of a metric name
        if isinstance(data, dict):
            for array, fields in data.items():
                if isinstance(fields, dict):
                    add_fields(out, plugin, (), fields, {"name": str(array)}, skip=("components",))
    elif info.kind == "dict":
        if isinstance(data, dict):
            add_fields(out, plugin, (), data, {})
            if plugin == "system":
                strings = {label_name(k): v for k, v in data.items() if isinstance(v, str)}
                out.info(metric_name(plugin), "the host, as /api/4/system describes it", strings)
    elif isinstance(data, list) and info.key is not None:
        names = (info.key, *EXTRA_LABELS.get(plugin, ()))
        skip = (*names, "key")
        seen: set[tuple[str, ...]] = set()
        for item in data:
            if not isinstance(item, dict) or item.get(info.key) is None:
                continue
            values = tuple(label_value(item.get(n)) for n in names)
            if values in seen:  # one series per label set: the first item wins
                continue
            seen.add(values)
            labels = {label_name(n): v for n, v in zip(names, values, strict=True)}
            fields = _ports_item(item) if plugin == "ports" else item
            add_fields(out, plugin, (), fields, labels, skip=skip)


class PluginsCollector:
    """The plugins' data from the state stage, read when collected."""

    def __init__(self, state: StateStage) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        out = Families()
        for plugin in self._state.plugins:
            try:
                add_plugin(out, plugin, self._state.get(plugin))
            except Exception:  # odd data must cost that plugin, not the page
                log.exception("metrics: cannot export %s", plugin)
        for plugin in self._state.plugins:
            ts = self._state.updated_at(plugin)
            if ts is not None:
                doc = "when the plugin's latest sample was taken"
                labels = {"plugin": plugin}
                out.gauge(metric_name("plugin", "updated_timestamp_seconds"), doc, ts, labels)
        return out


# -- the page ------------------------------------------------------------------------


_ESCAPING = re.compile(r"escaping\s*=\s*[^;,]*")


def negotiate(accept: str | None) -> tuple[Callable[[Collector], bytes], str]:
    """The encoder and content type for an ``Accept`` header, as ``prometheus_client``'s
    own handlers choose them: OpenMetrics when the client asks for it, else the text
    format 0.0.4.  An unreadable version asks for nothing.  Every name here is already
    a legacy Prometheus name (``[a-zA-Z0-9_]``), so the ``escaping`` asked for is always
    answered as ``underscores`` (which leaves them as they are): prometheus_client 0.26
    would apply ``values`` or ``dots`` to the samples but not to the metadata."""
    accept = _ESCAPING.sub("escaping=underscores", accept or "")
    try:
        return choose_encoder(accept)
    except (TypeError, ValueError):  # a version such as "1.x" cannot be compared
        return generate_latest, CONTENT_TYPE_PLAIN_0_0_4


class MetricsPage:
    """``GET /metrics``: the exposition for an ``Accept`` header."""

    def __init__(self, state: StateStage, pipeline: Collector) -> None:
        self._state = state
        self._plugins = CollectorRegistry()
        self._plugins.register(PluginsCollector(state))
        self._pipeline = CollectorRegistry()
        self._pipeline.register(pipeline)
        self._version = -1
        self._cached: dict[str, bytes] = {}
        self.renders = 0  # plugins' texts made (tests: a repeated scrape makes none)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        encode, content_type = negotiate(accept)
        if self._state.version != self._version:
            self._version, self._cached = self._state.version, {}
        plugins = self._cached.get(content_type)
        if plugins is None:
            plugins = encode(self._plugins)
            self.renders += 1
            # the plugins' part goes first: without its end marker (OpenMetrics)
            if plugins.endswith(_OPENMETRICS_EOF):
                plugins = plugins[: -len(_OPENMETRICS_EOF)]
            if len(self._cached) < _CACHED_TYPES:
                self._cached[content_type] = plugins
        return plugins + encode(self._pipeline), content_type
