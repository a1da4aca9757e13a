"""Every plugin statbus serves, one descriptor each, and the registries built from them.

A plugin is described once, in the module of its family (``pipeline/plugins/cpu.py``
holds ``cpu`` and ``percpu``, ...), by a :class:`~pipeline.plugins.descriptor.
PluginInfo`: its shape, fields, own configuration keys, default limits and rule,
history and item handling.  This module gathers them; everything else reads the
registries below, never a table of its own (the tables that belong to a face, MQTT
discovery, the OpenAPI document, the Prometheus labels, stay in that face, and a test
checks that their keys are real plugins and fields).

Adding a plugin: docs/architecture.md, "Adding a plugin".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pipeline.checks import Check, Option, alias_map
from pipeline.plugins import (
    amps,
    cloud,
    connections,
    containers,
    cpu,
    disk,
    folders,
    gpu,
    irq,
    load,
    memory,
    network,
    ports,
    processes,
    quicklook,
    raid,
    sensors,
    smart,
    system,
    unsampled,
    vms,
    wifi,
)
from pipeline.plugins.descriptor import FieldInfo, PluginInfo

__all__ = [
    "ALIASED",
    "ALIAS_FIELD",
    "FIELDS",
    "HISTORY_FIELDS",
    "ON_DEMAND",
    "OPTIONS",
    "PLUGINS",
    "SAMPLED",
    "FieldInfo",
    "Option",
    "PluginInfo",
    "option_defaults",
    "option_schema",
]

_FAMILIES = (
    amps,
    cloud,
    connections,
    containers,
    cpu,
    disk,
    folders,
    gpu,
    unsampled,
    irq,
    load,
    memory,
    network,
    ports,
    processes,
    quicklook,
    raid,
    sensors,
    smart,
    system,
    vms,
    wifi,
)

#: every plugin, by name (in name order, as ``/pluginslist`` lists them)
PLUGINS: dict[str, PluginInfo] = {
    p.name: p for p in sorted((p for f in _FAMILIES for p in f.DESCRIPTORS), key=lambda p: p.name)
}
#: the plugins that sampler families produce (and that have a ``[<plugin>]`` section)
SAMPLED: tuple[str, ...] = tuple(name for name, info in PLUGINS.items() if info.sampled)
#: plugin -> field -> description and unit (``/<plugin>/<field>/description``)
FIELDS: dict[str, dict[str, FieldInfo]] = {n: dict(p.fields) for n, p in PLUGINS.items()}
#: plugin -> its own configuration keys (docs/plugins/options.md)
OPTIONS: dict[str, dict[str, Option]] = {
    n: dict(p.options) for n, p in PLUGINS.items() if p.options
}
#: plugin -> the fields kept in its history (the reference's ``items_history_list``)
HISTORY_FIELDS: dict[str, tuple[str, ...]] = {n: p.history for n, p in PLUGINS.items() if p.history}
#: plugins sampled only while something reads them (the process lists)
ON_DEMAND: frozenset[str] = frozenset(n for n, p in PLUGINS.items() if p.on_demand)
#: the plugins whose items can be given an ``alias``
ALIASED: frozenset[str] = frozenset(n for n, p in PLUGINS.items() if p.aliased)
#: where the alias is written: the entries' ``alias`` field, or the key field itself
ALIAS_FIELD: dict[str, str] = {n: p.alias_field for n, p in PLUGINS.items() if p.alias_field}


def option_defaults(plugin: str) -> Mapping[str, Any]:
    """The plugin's own keys, each with its default."""
    return MappingProxyType({k: o.default for k, o in OPTIONS.get(plugin, {}).items()})


def option_schema(plugin: str) -> dict[str, Check]:
    """The plugin's own keys and their checks (``alias`` for the plugins that take it)."""
    out = {k: o.check for k, o in OPTIONS.get(plugin, {}).items()}
    if plugin in ALIASED:
        out["alias"] = alias_map
    return out
