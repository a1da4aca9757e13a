"""The plugins statbus serves, in the Glances API v4 shape.

``kind`` is the JSON shape of the plugin's stats: ``list`` (of dicts, each naming its key
field in ``key``), ``dict``, or ``value`` (a bare string).  ``refresh`` is the plugin's
default refresh interval in seconds (``None``: the global ``refresh``), as in the
reference.  ``alert`` is served like any plugin, but the alert stage produces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["list", "dict", "value"]


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    kind: Kind
    key: str | None = None
    refresh: float | None = None
    #: False for a plugin a stage produces rather than a sampler (``alert``)
    sampled: bool = True

    def empty(self) -> Any:
        """The value served before the first sample (never ``null``: clients index it)."""
        return [] if self.kind == "list" else {} if self.kind == "dict" else ""


PLUGINS: dict[str, PluginInfo] = {
    p.name: p
    for p in (
        PluginInfo("alert", "list", sampled=False),
        PluginInfo("core", "dict"),
        PluginInfo("cpu", "dict"),
        PluginInfo("diskio", "list", "disk_name"),
        PluginInfo("fs", "list", "mnt_point", refresh=60.0),
        PluginInfo("ip", "dict", refresh=60.0),
        PluginInfo("load", "dict"),
        PluginInfo("mem", "dict"),
        PluginInfo("memswap", "dict"),
        PluginInfo("network", "list", "interface_name"),
        PluginInfo("now", "dict"),
        PluginInfo("percpu", "list", "cpu_number"),
        PluginInfo("processcount", "dict"),
        PluginInfo("processlist", "list", "pid"),
        PluginInfo("programlist", "list", "name"),
        PluginInfo("psutilversion", "value", refresh=3600.0),
        PluginInfo("quicklook", "dict"),
        PluginInfo("sensors", "list", "label", refresh=10.0),
        PluginInfo("system", "dict", refresh=60.0),
        PluginInfo("uptime", "value"),
        PluginInfo("version", "value", refresh=3600.0),
    )
}

#: the plugins that sampler families produce (and that have a ``[<plugin>]`` section)
SAMPLED: tuple[str, ...] = tuple(name for name, info in PLUGINS.items() if info.sampled)
