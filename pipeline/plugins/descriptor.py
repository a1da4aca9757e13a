"""What a plugin is: its descriptor, and the vocabulary descriptors are written in.

Every plugin statbus serves is described once, by a :class:`PluginInfo` in the module of
its family (``pipeline/plugins/<family>.py``): its JSON shape, its fields (description
and unit), its own configuration keys, its default thresholds and the rule that judges a
sample, which fields keep a history, and how its list items are filtered and aliased.
The registries every other module reads (:data:`pipeline.plugins.PLUGINS`, ``FIELDS``,
``OPTIONS``, ``HISTORY_FIELDS``, ...) are built from these descriptors.

A rule is a plain function ``rule(judge, data, views, cpucore)``: it gets the judge of
:mod:`pipeline.plugins.judge` (the reference's ``get_alert``), the dict sample (a dict
plugin) or one entry (a list plugin), and the ``{field: view}`` to decorate.  It reads
the plugin's options from the judge's limits, where the engine puts them as
``<plugin>_<option>`` (the reference's own namespace: ``processlist_nice_warning``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from pipeline.checks import Option

if TYPE_CHECKING:
    from pipeline.plugins.judge import Judge

Kind = Literal["list", "dict", "value", "none"]
Entry = dict[str, Any]
#: a plugin's rule: ``rule(judge, sample or entry, its {field: view}, cpu cores)``
Rule = Callable[["Judge", Any, dict[str, Any], int], None]
#: default thresholds and ``*_log`` switches, by the number of CPUs
Limits = Callable[[int], Mapping[str, float | bool]]

# level numbers, as the reference's ``glances_thresholds`` numbers them
OK, CAREFUL, WARNING, CRITICAL = range(4)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def no_limits(ncpu: int) -> Mapping[str, float | bool]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of a plugin, as ``/<plugin>/<field>/description`` and ``/unit`` serve
    it: ``unit`` is ``""`` where the spec says *None*; ``rate`` is True for a counter
    that has ``_gauge`` and ``_rate_per_sec`` siblings."""

    description: str
    unit: str
    rate: bool = False


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One plugin, whole.

    **Shape.** ``kind`` is the JSON shape of its stats: ``list`` (of dicts, each naming
    its key field in ``key``), ``dict``, ``value`` (a bare string) or ``none`` (always
    ``null``: ``help``, as the spec shows it).  ``refresh`` is its default refresh
    interval in seconds (``None``: the global ``refresh``), as in the reference.
    ``sampled`` is False for a plugin a stage produces (``alert``) or nobody does
    (``help``).  ``default_disable`` marks the plugins the reference ships disabled.
    ``absent`` is ``dict`` for the list plugins whose empty value is ``{}`` (``smart``
    and ``vms`` when their tool is missing, as in the spec).  ``on_demand``: sampled only
    while someone reads it (the process lists: most of a round's cost).

    **Fields and configuration.** ``fields`` describes each field; ``options`` are the
    keys only this plugin's section takes (every key present in
    ``PluginConfig.options``, its default when unset).

    **Thresholds.** ``limits(ncpu)`` gives the reference's default thresholds;
    ``rule`` judges a sample (``display_only``: it only decorates, for display: no level,
    no alert, its views made on request).  ``optional_views`` are the fields the
    reference marks ``optional``; ``hide_zero_fields`` the rate fields ``hide_zero``
    hides.  For ``/<plugin>/limits``: ``sectioned`` (a section in the reference's
    shipped configuration: ``<plugin>_disable`` shown), ``limits_always`` (options shown
    whatever their value), ``limits_renamed`` (statbus key -> the reference's),
    ``limits_tables`` (arrays of tables, shown as ``<plugin>_<key>_<n>_<name>``),
    ``limits_fixed`` (reference options describing what statbus does) and
    ``limits_refresh`` (the refresh shown, as the reference ships it).

    **History and items.** ``history`` lists the fields kept per item (the reference's
    ``items_history_list``).  For list items: ``alias_field`` is where an alias is
    written (an ``alias`` field, or the key itself), ``alias_names(entry)`` the names
    an alias is looked up by (default: the key's value), ``also_matched`` further fields
    ``hide``/``show`` match.
    """

    name: str
    kind: Kind
    key: str | None = None
    refresh: float | None = None
    sampled: bool = True
    default_disable: bool = False
    #: ``dict``: the empty value is ``{}`` even though the plugin is a list when it has data
    absent: Literal["kind", "dict"] = "kind"
    on_demand: bool = False
    fields: Mapping[str, FieldInfo] = field(default_factory=dict)
    options: Mapping[str, Option] = field(default_factory=dict)
    limits: Limits = no_limits
    rule: Rule | None = None
    display_only: bool = False
    optional_views: frozenset[str] = frozenset()
    hide_zero_fields: tuple[str, ...] = ()
    sectioned: bool = False
    limits_always: frozenset[str] = frozenset()
    limits_renamed: Mapping[str, str] = field(default_factory=dict)
    limits_tables: frozenset[str] = frozenset()
    limits_fixed: Mapping[str, Any] = field(default_factory=dict)
    limits_refresh: bool = False
    history: tuple[str, ...] = ()
    alias_field: str | None = None
    alias_names: Callable[[Entry], tuple[str, ...]] | None = None
    also_matched: tuple[str, ...] = ()

    def empty(self) -> Any:
        """The value served before the first sample, and when the source is absent
        (``null`` only for ``help``: clients index the others)."""
        if self.kind == "none":
            return None
        if self.kind == "dict" or self.absent == "dict":
            return {}
        return [] if self.kind == "list" else ""

    @property
    def judged(self) -> bool:
        """Whether a rule gives it levels or alerts (its verdicts are published; the
        others' views are made on request: all DEFAULT, or decorated for display)."""
        return self.rule is not None and not self.display_only

    @property
    def aliased(self) -> bool:
        """Whether its items can be given an ``alias`` (every sampled list plugin with a
        key): matched by ``hide``/``show``, and written to ``alias_field`` if any."""
        return self.kind == "list" and bool(self.key) and self.sampled


# --- the vocabulary of limits and rules -----------------------------------------------


def cwc(stat: str, careful: float, warning: float, critical: float) -> dict[str, float]:
    """``<stat>_careful``, ``_warning`` and ``_critical``."""
    return {
        f"{stat}_careful": float(careful),
        f"{stat}_warning": float(warning),
        f"{stat}_critical": float(critical),
    }


def bottleneck(stat: str, limit: float) -> dict[str, float]:
    """The reference's "80 %, 90 %, 100 % of a bottleneck", computed as it does."""
    return cwc(stat, limit - limit * 0.20, limit - limit * 0.10, limit)


def fixed(limits: Mapping[str, float | bool]) -> Limits:
    """Default limits that do not depend on the number of CPUs."""
    frozen = MappingProxyType(dict(limits))
    return lambda ncpu: frozen


def decorate(views: dict[str, Any], field: str, decoration: str) -> None:
    if field in views:
        views[field]["decoration"] = decoration


def number(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is not a number (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def rate_per_sec(entry: Any, field: str) -> float | None:
    """``<field>_rate_per_sec``, else the delta over ``time_since_update``."""
    rate = entry.get(f"{field}_rate_per_sec")
    if isinstance(rate, int | float):
        return float(rate)
    delta, elapsed = entry.get(field), entry.get("time_since_update")
    if isinstance(delta, int | float) and isinstance(elapsed, int | float) and elapsed:
        return float(delta // elapsed)
    return None
