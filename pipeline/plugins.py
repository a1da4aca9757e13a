"""The plugins statbus serves, in the Glances API v4 shape.

``kind`` is the JSON shape of the plugin's stats: ``list`` (of dicts, each naming its key
field in ``key``), ``dict``, ``value`` (a bare string) or ``none`` (always ``null``:
``help``, as the spec shows it).  ``refresh`` is the plugin's default refresh interval in
seconds (``None``: the global ``refresh``), as in the reference.  ``alert`` is served
like any plugin, but the alert stage produces it.  ``default_disable`` marks the plugins
the reference ships disabled (costly, or needing privileges or a network service).
``absent`` is ``dict`` for the list plugins whose empty value is ``{}`` (``smart`` and
``vms`` when their tool is missing, as in the spec).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["list", "dict", "value", "none"]


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    kind: Kind
    key: str | None = None
    refresh: float | None = None
    #: False for a plugin a stage produces rather than a sampler (``alert``)
    sampled: bool = True
    default_disable: bool = False
    #: ``dict``: the empty value is ``{}`` even though the plugin is a list when it has data
    absent: Literal["kind", "dict"] = "kind"

    def empty(self) -> Any:
        """The value served before the first sample, and when the source is absent
        (``null`` only for ``help``: clients index the others)."""
        if self.kind == "none":
            return None
        if self.kind == "dict" or self.absent == "dict":
            return {}
        return [] if self.kind == "list" else ""


PLUGINS: dict[str, PluginInfo] = {
    p.name: p
    for p in (
        PluginInfo("alert", "list", sampled=False),
        PluginInfo("amps", "list", "name"),
        PluginInfo("cloud", "dict", refresh=3600.0, default_disable=True),
        PluginInfo("connections", "dict", default_disable=True),
        PluginInfo("containers", "list", "name"),
        PluginInfo("core", "dict"),
        PluginInfo("cpu", "dict"),
        PluginInfo("diskio", "list", "disk_name"),
        PluginInfo("folders", "list", "path", refresh=10.0),
        PluginInfo("fs", "list", "mnt_point", refresh=60.0),
        PluginInfo("gpu", "list", "gpu_id"),
        PluginInfo("help", "none", sampled=False),
        PluginInfo("ip", "dict", refresh=60.0),
        PluginInfo("irq", "list", "irq_line", default_disable=True),
        PluginInfo("load", "dict"),
        PluginInfo("mem", "dict"),
        PluginInfo("memswap", "dict"),
        PluginInfo("network", "list", "interface_name"),
        PluginInfo("now", "dict"),
        PluginInfo("percpu", "list", "cpu_number"),
        PluginInfo("ports", "list", "indice", refresh=30.0),
        PluginInfo("processcount", "dict"),
        PluginInfo("processlist", "list", "pid"),
        PluginInfo("programlist", "list", "name"),
        PluginInfo("psutilversion", "value", refresh=3600.0),
        PluginInfo("quicklook", "dict"),
        PluginInfo("raid", "dict", default_disable=True),
        PluginInfo("sensors", "list", "label", refresh=10.0),
        PluginInfo(
            "smart", "list", "DeviceName", refresh=60.0, default_disable=True, absent="dict"
        ),
        PluginInfo("system", "dict", refresh=60.0),
        PluginInfo("uptime", "value"),
        PluginInfo("version", "value", refresh=3600.0),
        PluginInfo("vms", "list", "name", default_disable=True, absent="dict"),
        PluginInfo("wifi", "list", "ssid"),
    )
}

#: the plugins that sampler families produce (and that have a ``[<plugin>]`` section)
SAMPLED: tuple[str, ...] = tuple(name for name, info in PLUGINS.items() if info.sampled)
