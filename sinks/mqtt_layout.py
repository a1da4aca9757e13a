"""Topics and payloads of the MQTT sink, in the reference's layout (glances-behaviour.md §5).

The reference flattens every plugin into *columns* before exporting it: list items are
prefixed with their key value and ``.`` (``eth0.bytes_recv``), field names are
lower-cased, nested dicts are flattened with **no separator** (``memory_info`` +
``rss`` → ``memory_inforss``), lists are space-joined and booleans become
``true``/``false``.  Then:

* ``per-metric``: one topic per column, ``<topic>/<device>/<plugin>/<part>[/<part>]``,
  the column split on ``.`` and each part sanitised to ``[A-Za-z0-9_-]`` (others ``_``);
  the payload is ``str(value)``, ``None`` an empty payload;
* ``per-plugin``: one topic per plugin, ``<topic>/<device>/<plugin>``, one JSON object
  nested again on ``.`` (``{"eth0": {...}}``, ``{"/": {...}}``).

Everything here is pure: a function of the plugin's data, no I/O.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from pipeline.plugins import PLUGINS

PER_PLUGIN = "per-plugin"
PER_METRIC = "per-metric"

_ALLOWED = frozenset(string.ascii_letters + string.digits + "_-")
#: "3 days, 10:25:20" / "1 day, 0:00:05" / "10:25:20" (``str(timedelta)`` of whole seconds)
_UPTIME = re.compile(r"(?:(?P<days>-?\d+) days?, )?(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d)")


def sanitise(part: str) -> str:
    """One topic level as the reference writes it: ``[A-Za-z0-9_-]``, others ``_``."""
    return "".join(c if c in _ALLOWED else "_" for c in part)


def uptime_seconds(text: str) -> int | None:
    """The reference exports uptime as seconds; statbus serves Glances' string."""
    match = _UPTIME.fullmatch(text.strip())
    if match is None:
        return None
    days = int(match["days"] or 0)
    return ((days * 24 + int(match["h"])) * 60 + int(match["m"])) * 60 + int(match["s"])


def _scalar(value: Any) -> Any:
    """A column's value: lists space-joined (as the reference), anything else as is."""
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    return value


def _text(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def columns(data: Any) -> Iterator[tuple[str, Any]]:
    """``(column, value)`` pairs of one plugin's data, in the data's order.

    A dict with ``key`` naming one of its fields (a list item) prefixes its columns with
    that field's value and ``.``; a nested dict is flattened into its parent's column
    name with no separator; lists are space-joined.
    """
    if isinstance(data, dict):
        key = data.get("key")
        prefix = f"{data[key]}." if isinstance(key, str) and key in data else ""
        for name, value in data.items():
            column = prefix + str(name).lower()
            if isinstance(value, dict):
                for sub, sub_value in columns(value):
                    yield column + sub, sub_value
            else:
                yield column, _scalar(value)
    elif isinstance(data, list):
        for item in data:
            yield from columns(item)


#: fields the reference leaves out of a plugin's export (its ``export_exclude_list``):
#: containers' nested dicts repeat the flat ``cpu_percent``, ``memory_usage``, ... fields
EXPORT_EXCLUDED = {"containers": frozenset({"cpu", "io", "memory", "network"})}


def export_data(plugin: str, data: Any) -> Any:
    """The data as exported: ``uptime`` becomes ``{"seconds": N}``; other bare values
    (``version``, ``psutilversion``, only when asked for) stay bare; the fields of
    :data:`EXPORT_EXCLUDED` are left out."""
    if plugin == "uptime" and isinstance(data, str):
        return {"seconds": uptime_seconds(data)}
    excluded = EXPORT_EXCLUDED.get(plugin)
    if excluded and isinstance(data, list):
        return [
            {k: v for k, v in e.items() if k not in excluded} if isinstance(e, dict) else e
            for e in data
        ]
    return data


def per_plugin_payload(data: Any) -> bytes:
    """One JSON object for the plugin, nested on ``.`` (compact, keys sorted).

    The same as splitting every column of :func:`columns` on ``.`` and nesting it, but
    without making the columns: a list item's key value is walked once, not once per
    field, and a plain field is set directly (this runs for every exported sample).
    """
    if not isinstance(data, dict | list):
        return orjson.dumps(data)
    nested = _already_nested(data)
    if nested is None:
        nested = {}
        _nest(data, nested)
    # keys sorted, as Glances' exporter writes them
    return orjson.dumps(nested, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS)


#: values that make a field more than one column (a nested dict) or change its value (a
#: list or tuple, space-joined)
_COMPOUND = frozenset({dict, list, tuple})
#: a dict's keys → whether they are their own columns (lower-case ``str`` without ``.``)
_PLAIN_KEYS: dict[tuple[Any, ...], bool] = {}


def _plain(entry: dict[Any, Any]) -> bool:
    """Whether ``entry``'s columns are its own fields, as they are, with no nesting."""
    keys = tuple(entry)
    plain = _PLAIN_KEYS.get(keys)
    if plain is None:
        plain = all(type(k) is str and k == k.lower() and "." not in k for k in keys)
        if len(_PLAIN_KEYS) < 4096:
            _PLAIN_KEYS[keys] = plain
    return plain and _COMPOUND.isdisjoint(map(type, entry.values()))


def _already_nested(data: dict[Any, Any] | list[Any]) -> dict[str, Any] | None:
    """What :func:`_nest` would build, without building it, for the usual sample: a dict
    whose fields are plain (:func:`_plain`) is its own payload; a list of such dicts, each
    with a ``key`` field whose value has no ``.`` and is not repeated, nests them under
    those values.  ``None`` for anything else."""
    if isinstance(data, dict):
        return data if _plain(data) else None
    nested: dict[str, Any] = {}
    for entry in data:
        if type(entry) is not dict or not _plain(entry):
            return None
        key = entry.get("key")
        if type(key) is not str or key not in entry:
            return None
        name = str(entry[key])
        if "." in name or name in nested:
            return None
        nested[name] = entry
    return nested


def _nest(data: Any, nested: dict[str, Any]) -> None:
    """Put ``columns(data)`` into ``nested``, each column split on ``.``."""
    if isinstance(data, list):
        for item in data:
            _nest(item, nested)
        return
    if not isinstance(data, dict):
        return
    level = nested
    key = data.get("key")
    if isinstance(key, str) and key in data:
        # every column of the item is "<key value>." + its name: the key value's parts
        # are parents of them all
        level = _parent(nested, f"{data[key]}".split("."))
    lower = _LOWER
    for name, value in data.items():
        column = lower.get(name)  # (only str names are cached: 1 and True find nothing)
        if column is None:
            column = _column(name)
        if isinstance(value, dict):
            for sub, sub_value in columns(value):
                _put(level, column + sub, sub_value)
            continue
        if isinstance(value, list | tuple):
            value = " ".join(_text(v) for v in value)
        if "." in column:
            _put(level, column, value)
        elif not isinstance(level.get(column), dict):
            level[column] = value


#: field name → its column (lower-cased): the same few dozen names every sample
_LOWER: dict[str, str] = {}


def _column(name: Any) -> str:
    column = str(name).lower()
    if type(name) is str and len(_LOWER) < 4096:
        _LOWER[name] = column
    return column


def _parent(level: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    for part in parts:
        child = level.get(part)
        if not isinstance(child, dict):
            # a column that is both a value and a parent: the parent wins (the
            # reference crashes the whole export here)
            child = level[part] = {}
        level = child
    return level


def _put(level: dict[str, Any], column: str, value: Any) -> None:
    *parents, leaf = column.split(".")
    level = _parent(level, parents)
    if not isinstance(level.get(leaf), dict):
        level[leaf] = value


def metric_payload(value: Any) -> bytes:
    """``str(value)``; ``None`` is an empty payload, booleans ``true``/``false``."""
    if value is None:
        return b""
    return _text(value).encode("utf-8")


class Layout:
    """Topic names and payloads for one ``[mqtt]`` configuration."""

    def __init__(self, topic: str, device: str, structure: str, plugins: Iterable[str]) -> None:
        self.base = f"{topic}/{device}"
        self.structure = structure
        self.plugins = frozenset(plugins)
        self.availability = f"{self.base}/availability"
        self.events = f"{self.base}/events"
        self.alert = f"{self.base}/alert"

    def exported(self, plugin: str) -> bool:
        return plugin in self.plugins and plugin in PLUGINS and plugin != "alert"

    def messages(self, plugin: str, data: Any) -> list[tuple[str, bytes]]:
        """``[(topic, payload)]`` of one sample of ``plugin``."""
        data = export_data(plugin, data)
        if self.structure == PER_PLUGIN:
            return [(f"{self.base}/{plugin}", per_plugin_payload(data))]
        if not isinstance(data, dict | list):
            return [(f"{self.base}/{plugin}", metric_payload(data))]
        out = []
        for column, value in columns(data):
            parts = "/".join(sanitise(p) for p in column.split("."))
            out.append((f"{self.base}/{plugin}/{parts}", metric_payload(value)))
        return out
