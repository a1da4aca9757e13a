"""Who reads the plugins sampled on demand (:data:`pipeline.plugins.ON_DEMAND`: the
process lists, most of a sampling round's cost), and the other options the API may set
at run time; the runner reads both before each call."""

from __future__ import annotations

from collections.abc import Iterable


class Demand:
    """Who reads the on-demand plugins now.

    A reader that always needs them (the API, an MQTT export of them) registers with
    :meth:`always`; a reader that needs them for a while (the alert stage during an
    alert) switches its interest with :meth:`want`.  The runner asks :meth:`wanted`
    before each call, so a change counts from the next sampling round on.
    """

    def __init__(self) -> None:
        self._always: set[str] = set()
        self._readers: dict[str, set[str]] = {}

    def always(self, plugins: Iterable[str]) -> None:
        self._always.update(plugins)

    def want(self, reader: str, plugins: Iterable[str]) -> None:
        """``reader``'s interest is now exactly ``plugins`` (empty: none)."""
        wanted = set(plugins)
        if wanted:
            self._readers[reader] = wanted
        else:
            self._readers.pop(reader, None)

    def wanted(self, plugin: str) -> bool:
        return plugin in self._always or any(plugin in w for w in self._readers.values())


class RuntimeOptions:
    """Mutable options the API may set (processes/extended) and the demand for the
    on-demand plugins; read by the runner."""

    def __init__(self, demand: Demand | None = None) -> None:
        self.extended_pid: int | None = None
        self.demand = demand or Demand()
