"""JSON Schemas (OpenAPI 3.1 dialect) of every plugin's stats, made from the metadata the
API already serves: descriptions and units, the shape (list, dict, value) and key
field from the plugin descriptors (``pipeline/plugins/``).

The JSON type of a field follows its unit (``percent``, ``byte``, ``number``... are
numbers, ``bool`` a boolean, ``list`` an array, ``string`` and no unit a string);
:data:`OVERRIDES` corrects the fields whose unit says nothing of their type (an empty
unit on a port number, a list of images), and :data:`NULLABLE` names the fields statbus
can answer ``null`` (as ``tests/test_conformance.py`` allows). Fields documented for
another platform only (``*(Windows)*``) may be ``null`` too. Every field has its unit as
``x-unit``. Objects stay open (``additionalProperties`` is not restricted): the reference
adds fields from one release to the next, and clients must tolerate them.

Quart-free: ``python -m api.openapi_doc`` builds the document without the web stack.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.plugins import FIELDS, PLUGINS, FieldInfo, PluginInfo

Schema = dict[str, Any]

_NUMBER_UNITS = frozenset(
    {
        "percent",
        "float",
        "int",
        "number",
        "byte",
        "bytes",
        "second",
        "seconds",
        "millisecond",
        "hertz",
        "timestamp",
        "celsius",
        "roundperminute",
        "megabyte",
        "bitpersecond",
        "bytepersecond",
        "numberpersecond",
        "dBm",
    }
)
_PLATFORM = re.compile(r"^\*\(([^)]*)\)\*")

_OBJECT: Schema = {"type": "object"}
_STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
#: a program whose processes differ in a field shows ``"_"`` there (docs/plugins.md)
_MIXED = {"const": "_", "description": "the program's processes differ in this field"}

#: (plugin, field) -> the schema's type part, where the unit does not give it
OVERRIDES: dict[tuple[str, str], Schema] = {
    ("alert", "top"): _STRINGS,
    ("containers", "image"): {"type": ["array", "string"], "items": {"type": "string"}},
    ("containers", "uptime"): {"type": ["string", "null"]},
    ("containers", "created"): {"type": ["string", "null"]},
    ("ip", "mask_cidr"): {"type": "integer"},
    ("percpu", "cpu_number"): {"type": "integer"},
    ("ports", "host"): {"type": ["string", "null"]},
    ("ports", "port"): {"type": "integer"},
    ("ports", "refresh"): {"type": "number"},
    ("ports", "timeout"): {"type": "number"},
    # seconds; false when the target did not answer; null before the first check
    ("ports", "status"): {"type": ["number", "boolean", "null"]},
    ("processlist", "cmdline"): _STRINGS,
    ("processlist", "memory_info"): _OBJECT,
    ("processlist", "cpu_times"): _OBJECT,
    ("processlist", "gids"): _OBJECT,
    ("processlist", "io_counters"): {"type": "array"},
    # extended stats (one selected process): null where access is denied
    ("processlist", "cpu_affinity"): {"type": ["array", "null"], "items": {"type": "integer"}},
    ("processlist", "ionice"): {"type": ["array", "null"], "items": {"type": "integer"}},
    ("processlist", "num_ctx_switches"): {"type": ["object", "null"]},
    ("processlist", "num_fds"): {"type": ["integer", "null"]},
    ("processlist", "memory_swap"): {"type": ["integer", "null"]},
    ("processlist", "tcp"): {"type": ["integer", "null"]},
    ("processlist", "udp"): {"type": ["integer", "null"]},
    ("programlist", "cmdline"): _STRINGS,
    ("programlist", "memory_info"): _OBJECT,
    ("programlist", "cpu_times"): _OBJECT,
    ("programlist", "io_counters"): {"type": "array"},
    ("programlist", "childrens"): {"type": "array", "items": {"type": "integer"}},
    ("programlist", "pid"): _MIXED,
    ("programlist", "username"): {"anyOf": [{"type": "string"}, _MIXED]},
    ("programlist", "status"): {"anyOf": [{"type": "string"}, _MIXED]},
    ("programlist", "nice"): {"anyOf": [{"type": ["number", "null"]}, _MIXED]},
    ("programlist", "gids"): {"anyOf": [_OBJECT, _MIXED]},
    ("quicklook", "percpu"): {
        "type": "array",
        "items": {"$ref": "#/components/schemas/percpu_entry"},
    },
    ("raid", "components"): {"type": "object", "additionalProperties": {"type": "string"}},
    ("raid", "type"): {"type": ["string", "null"]},
    ("raid", "config"): {"type": ["string", "null"]},
    ("raid", "available"): {"type": ["integer", "null"]},
    ("raid", "used"): {"type": ["integer", "null"]},
    ("vms", "cpu_count"): {"type": ["integer", "null"]},
    ("vms", "load_1min"): {"type": ["number", "null"]},
    ("vms", "load_5min"): {"type": ["number", "null"]},
    ("vms", "load_15min"): {"type": ["number", "null"]},
    ("vms", "ipv4"): {"type": ["string", "null"]},
    ("vms", "release"): {"type": ["string", "null"]},
    ("vms", "engine_version"): {"type": ["string", "null"]},
}

#: fields statbus can answer ``null`` (the same as ``tests/test_conformance.py``)
NULLABLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("sensors", "warning"),
        ("sensors", "critical"),
        ("quicklook", "cpu_hz"),
        ("quicklook", "cpu_hz_current"),
        ("ip", "gateway"),
        ("network", "alias"),
        ("processlist", "nice"),
        ("amps", "countmin"),
        ("amps", "countmax"),
        ("folders", "careful"),
        ("folders", "warning"),
        ("folders", "critical"),
        ("ports", "rtt_warning"),
        ("containers", "io_rx"),
        ("containers", "io_wx"),
        ("containers", "network_rx"),
        ("containers", "network_tx"),
        ("containers", "memory_inactive_file"),
        # Podman's, for a container in no pod
        ("containers", "pod_name"),
        ("containers", "pod_id"),
        # a stopped container (listed with [containers] all) has no stats
        ("containers", "cpu_percent"),
        ("containers", "memory_usage"),
        ("containers", "memory_limit"),
        ("gpu", "mem"),
        ("gpu", "proc"),
        ("gpu", "temperature"),
        ("gpu", "fan_speed"),
        ("vms", "cpu_time"),
        ("vms", "cpu_time_gauge"),
        ("vms", "cpu_time_rate_per_sec"),
        ("vms", "memory_usage"),
        ("vms", "memory_total"),
    }
)

#: the other keys of a ``smart`` entry: SMART attribute ids ("5", "194", ...)
_SMART_ATTRIBUTE: Schema = {
    "type": "object",
    "description": "One SMART attribute, under its id.",
    "properties": {
        "name": {"type": "string"},
        "flags": {"type": ["integer", "null"]},
        "raw": {"type": ["string", "null"]},
        "value": {"type": ["string", "null"]},
        "worst": {"type": ["integer", "null"]},
        "threshold": {"type": ["integer", "null"]},
        "type": {"type": ["string", "null"]},
        "updated": {"type": ["string", "null"]},
        "when_failed": {"type": ["string", "null"]},
    },
}


def _only_elsewhere(description: str) -> bool:
    """A field documented for other platforms than Linux (``*(Windows)*: ...``)."""
    platform = _PLATFORM.match(description)
    if platform is None:
        return False
    names = platform.group(1).lower()
    return "linux" not in names and "unix" not in names


def _unit_type(info: FieldInfo) -> Schema:
    unit = info.unit
    if "(dict with" in info.description:
        return {"type": "object"}
    if "(list with" in info.description or unit == "list":
        return {"type": "array"}
    if unit == "bool":
        return {"type": "boolean"}
    if unit in _NUMBER_UNITS or unit.endswith(" per second"):
        return {"type": "number"}
    return {"type": "string"}


def _with_null(schema: Schema) -> Schema:
    kind = schema.get("type")
    if kind is None:  # a const or an anyOf
        return {"anyOf": [schema, {"type": "null"}]}
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return schema if "null" in kinds else {**schema, "type": [*kinds, "null"]}


def field_schema(plugin: str, name: str, info: FieldInfo) -> Schema:
    schema = dict(OVERRIDES.get((plugin, name)) or _unit_type(info))
    if (plugin, name) in NULLABLE or _only_elsewhere(info.description):
        schema = _with_null(schema)
    out: Schema = {**schema, "description": info.description}
    if info.unit:
        out["x-unit"] = info.unit
    return out


def _fields_object(plugin: str, description: str) -> Schema:
    properties = {name: field_schema(plugin, name, info) for name, info in FIELDS[plugin].items()}
    return {"type": "object", "description": description, "properties": properties}


def plugin_schemas() -> dict[str, Schema]:
    """``{name: schema}``: ``<plugin>`` for each plugin's stats and ``<plugin>_entry`` for
    one entry of a list plugin, for ``components.schemas``."""
    out: dict[str, Schema] = {}
    for info in PLUGINS.values():
        out.update(_schemas_of(info))
    return out


def _schemas_of(info: PluginInfo) -> dict[str, Schema]:
    name = info.name
    if info.kind == "none":
        return {name: {"type": "null", "description": f"`{name}`: always null."}}
    if info.kind == "value":
        return {name: {"type": "string", "description": f"`{name}`: a string."}}
    if name == "raid":  # a dict of arrays by name, each described by the fields
        array = _fields_object(name, "One software RAID array (`/proc/mdstat`).")
        return {
            "raid_array": array,
            name: {
                "type": "object",
                "description": "`raid`: the arrays by name (`md0`, ...).",
                "additionalProperties": {"$ref": "#/components/schemas/raid_array"},
            },
        }
    if info.kind == "dict":
        return {name: _fields_object(name, f"`{name}`: one object.")}
    entry = _fields_object(name, f"One entry of `{name}`.")
    if info.key is not None:
        entry["properties"]["key"] = {
            "const": info.key,
            "description": "The name of the entry's key field.",
        }
        if info.key not in entry["properties"]:
            entry["properties"][info.key] = {"description": "The entry's key."}
    if name == "smart":
        entry["additionalProperties"] = {
            "anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/smart_attribute"}]
        }
    keyed = f" keyed by `{info.key}`" if info.key else ""
    plugin: Schema = {
        "type": "array",
        "description": f"`{name}`: a list of entries{keyed}.",
        "items": {"$ref": f"#/components/schemas/{name}_entry"},
    }
    if info.absent == "dict":
        plugin = {
            "description": f"`{name}`: a list of entries{keyed}, or `{{}}` when its tool"
            " is not installed.",
            "anyOf": [
                {k: v for k, v in plugin.items() if k != "description"},
                {"type": "object", "maxProperties": 0},
            ],
        }
    out = {f"{name}_entry": entry, name: plugin}
    if name == "smart":
        out["smart_attribute"] = _SMART_ATTRIBUTE
    return out


def all_schema() -> Schema:
    """``/all``: ``{plugin: stats}`` for every enabled plugin."""
    return {
        "type": "object",
        "description": "Every enabled plugin's stats, by plugin name.",
        "properties": {name: {"$ref": f"#/components/schemas/{name}"} for name in PLUGINS},
        "additionalProperties": False,
    }
