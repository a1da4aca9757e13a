"""Pure lookups over one plugin's stats, with the reference's answers and our errors.

Each function takes the plugin's data (already in the Glances v4 shape) and returns the
JSON-able answer, or raises :class:`ApiError` with a 4xx status.  statbus answers an
unknown field with 404 where the reference answers 200 ``null``.
"""

from __future__ import annotations

from typing import Any

from api.errors import ApiError
from pipeline.plugins import FIELDS, PluginInfo


def _unknown_field(info: PluginInfo, item: str) -> ApiError:
    return ApiError(404, f"Unknown field {item} in plugin {info.name}")


def is_known_field(info: PluginInfo, data: Any, item: str) -> bool:
    if item in FIELDS.get(info.name, {}):
        return True
    if info.kind == "dict":
        return isinstance(data, dict) and item in data
    if info.kind == "list":
        return any(isinstance(e, dict) and item in e for e in data)
    return False


def field_values(info: PluginInfo, data: Any, item: str) -> dict[str, Any]:
    """``/<plugin>/<item>``: ``{item: value}``, or ``{item: [value per entry]}``."""
    if info.kind == "dict" and isinstance(data, dict) and item in data:
        return {item: data[item]}
    if info.kind == "list" and is_known_field(info, data, item):
        return {item: [e.get(item) for e in data if isinstance(e, dict)]}
    raise _unknown_field(info, item)


def _entry_key(entry: dict[str, Any], info: PluginInfo) -> str:
    return str(entry.get(info.key or "key"))


def field_for_key(info: PluginInfo, data: Any, item: str, key: str) -> dict[str, Any]:
    """``/<plugin>/<item>/<key>``: the item of the entry whose key field equals ``key``."""
    if info.kind != "list":
        raise ApiError(
            404,
            f"Cannot get item {item} for key {key} in plugin {info.name} "
            f"(the plugin has no keyed entries)",
        )
    if not is_known_field(info, data, item):
        raise _unknown_field(info, item)
    for entry in data:
        if isinstance(entry, dict) and _entry_key(entry, info) == key:
            if item not in entry:
                break
            return {item: entry[item]}
    raise ApiError(
        404,
        f"Cannot get item {item} for key {key} in plugin {info.name} (no such {info.key})",
    )


def _matches(found: Any, wanted: str) -> bool:
    if isinstance(found, bool) or found is None:
        return str(found).lower() == wanted.lower()
    if isinstance(found, int | float) and not isinstance(found, bool):
        try:
            return float(wanted) == float(found)
        except ValueError:
            return False
    return str(found) == wanted


def entries_with_value(info: PluginInfo, data: Any, item: str, value: str) -> dict[str, Any]:
    """``/<plugin>/<item>/value/<value>``: ``{value: [entries whose item == value]}``."""
    if info.kind != "list":
        raise ApiError(404, f"Cannot look up values in plugin {info.name}: it is not a list")
    if not is_known_field(info, data, item):
        raise _unknown_field(info, item)
    return {
        value: [e for e in data if isinstance(e, dict) and item in e and _matches(e[item], value)]
    }


def top(info: PluginInfo, data: Any, nb: int) -> Any:
    """``/<plugin>/top/<nb>``: the first ``nb`` entries (0: all); a dict (and the ``{}``
    a list plugin such as ``vms`` answers when its source is absent) is returned whole."""
    if not isinstance(data, list) or nb == 0:
        return data
    return data[:nb]


def field_meta(info: PluginInfo, item: str, what: str) -> str | None:
    """``/<plugin>/<item>/description`` or ``/unit`` (``null`` for a unit-less field,
    as the reference answers for the spec's *None* unit)."""
    meta = FIELDS.get(info.name, {}).get(item)
    if meta is None:
        raise _unknown_field(info, item)
    text = meta.description if what == "description" else meta.unit
    return text or None
