"""The judge: limits and views, the reference's threshold rules as pure functions.

No I/O and no state of its own; each plugin's rule and default limits are in its
descriptor (:mod:`pipeline.plugins`), and this module applies them:

* :func:`effective_limits` merges the plugin's default limits with its configuration
  into one flat mapping keyed as the reference keys it (``cpu_total_careful`` -> 65.0,
  ``cpu_total_log`` -> True, ``fs_/_critical`` -> 95.0), plus its own options;
* :func:`limits_document` is what ``/<plugin>/limits`` serves (floats, or lists of
  strings, plus ``history_size`` and the plugin's options);
* :func:`compute_views` judges one sample: the views of every field, the alerts to feed
  the events list and the per-stat levels (see :class:`pipeline.events.ViewsEvent`).

The evaluation is the reference's ``get_alert`` (:meth:`Judge.alert`): ``value =
current * 100 / maximum``, limits looked up as ``<stat>_<level>`` then
``<plugin>_<level>``, checked with ``>=`` from critical down to careful, a limit of 0
meaning "unset".  statbus adds optional hysteresis (``hysteresis`` points; 0 reproduces
the reference).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline.plugins import PLUGINS, option_defaults
from pipeline.plugins.descriptor import PluginInfo, number

if TYPE_CHECKING:
    from pipeline.config import Config, PluginConfig

#: level names by number, as the reference's ``glances_thresholds`` numbers them
LEVELS = ("OK", "CAREFUL", "WARNING", "CRITICAL")
_THRESHOLDS = ("careful", "warning", "critical")  # index + 1 is the level

#: a flat limits mapping: thresholds are floats, ``*_log`` switches are bools, and the
#: plugin's own options (``processlist_nice_warning`` -> a tuple) as they are configured
Limits = Mapping[str, Any]


def default_limits(plugin: str, ncpu: int) -> dict[str, float | bool]:
    """The reference's defaults (code and shipped configuration) for ``plugin``."""
    info = PLUGINS.get(plugin)
    return dict(info.limits(ncpu)) if info is not None else {}


def _thresholds(plugin: str, config: PluginConfig, ncpu: int) -> dict[str, float | bool]:
    limits = default_limits(plugin, ncpu)
    for key, value in config.limits.items():
        limits[f"{plugin}_{key}".lower()] = float(value)
    for key, switch in config.logs.items():
        limits[f"{plugin}_{key}".lower()] = bool(switch)
    return limits


def effective_limits(plugin: str, config: PluginConfig, ncpu: int) -> dict[str, Any]:
    """Defaults overlaid with the plugin's configured thresholds and ``*_log`` switches,
    plus the plugin's own options as ``<plugin>_<option>`` (the rules read them there).

    A configured key is prefixed with the plugin name and lower-cased, as the
    reference's INI parser does: ``[fs] "/_critical"`` -> ``fs_/_critical``,
    ``[sensors] temperature_core_Ambient_warning`` ->
    ``sensors_temperature_core_ambient_warning``.
    """
    limits: dict[str, Any] = _thresholds(plugin, config, ncpu)
    for key, value in config.options.items():
        limits.setdefault(f"{plugin}_{key}", value)
    return limits


def has_rules(plugin: str) -> bool:
    """Whether a rule gives ``plugin`` levels or alerts (its verdicts are published; the
    others' views are made on request: all DEFAULT, or decorated for display only)."""
    info = PLUGINS.get(plugin)
    return info is not None and info.judged


def limits_document(plugin: str, config: Config, ncpu: int) -> dict[str, Any]:
    """``/<plugin>/limits``: ``<plugin>_<option>`` keys, floats where numeric, lists of
    strings otherwise, and ``history_size``; keys sorted."""
    if plugin == "alert":  # the alert stage's plugin: its section is [alert]
        return {
            "alert_disable": [str(config.alert.disable)],
            "history_size": float(config.global_.history_size),
        }
    if plugin not in config.plugins:  # help: no section
        return {"history_size": float(config.global_.history_size)}
    own = config.plugins[plugin]
    doc: dict[str, Any] = {"history_size": float(config.global_.history_size)}
    if PLUGINS[plugin].sectioned or own.disable:
        doc[f"{plugin}_disable"] = [str(own.disable)]
    doc.update(options_document(plugin, config))
    if own.hide:
        doc[f"{plugin}_hide"] = list(own.hide)
    if own.show:
        doc[f"{plugin}_show"] = list(own.show)
    if own.refresh is not None:
        doc[f"{plugin}_refresh"] = float(own.refresh)
    if own.hysteresis:
        doc[f"{plugin}_hysteresis"] = float(own.hysteresis)
    for key, value in _thresholds(plugin, own, ncpu).items():
        doc[key] = [str(value)] if isinstance(value, bool) else float(value)
    return dict(sorted(doc.items()))


def limit_value(value: Any) -> Any:
    """A value as the reference's ``/limits`` shows it: a float where numeric, else a
    list of strings; ``None`` for nothing to show (unset, empty)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return [str(value)]
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, re.Pattern):
        value = value.pattern
    if isinstance(value, str):
        return [value] if value else None
    if isinstance(value, tuple | list):
        return [str(v) for v in value] or None
    return [str(value)]


def options_document(plugin: str, config: Config) -> dict[str, Any]:
    """The plugin's own options as ``/<plugin>/limits`` shows them: those in its
    ``limits_always`` whatever their value, any other when it differs from its default
    (an empty one never is); arrays of tables as ``<plugin>_<key>_<n>_<name>``."""
    info, own = PLUGINS[plugin], config.plugins[plugin]
    defaults = option_defaults(plugin)
    doc: dict[str, Any] = dict(info.limits_fixed)
    for key, value in own.options.items():
        if key in info.limits_tables:
            for n, table in enumerate(value, 1):
                for name, item in table.items():
                    shown = limit_value(item)
                    if shown is not None:
                        doc[f"{plugin}_{key}_{n}_{name}"] = shown
            continue
        if key not in info.limits_always and value == defaults.get(key):
            continue
        shown = limit_value(value)
        if shown is not None:
            doc[f"{plugin}_{info.limits_renamed.get(key, key)}"] = shown
    if info.limits_refresh:
        doc[f"{plugin}_refresh"] = float(config.refresh_of(plugin))
    return doc


# --- evaluation ---------------------------------------------------------------------


#: a header → its stat name, thresholds and log switch (see ``Judge._rule``)
Memo = dict[str, tuple[str, tuple[float, float, float], bool | None]]
#: the most headers a memo holds
MEMO_SIZE = 1024


class Verdict(NamedTuple):
    """The judgement of one sample.

    ``held`` is the level of every evaluation site (``"<item>\\0<field>"``): give it back
    as ``previous`` for the next sample of the same plugin, so hysteresis can hold a
    level per field and per item (``levels`` is keyed by stat name, which several items
    share: every interface judged against its speed is ``network_rx``).
    """

    views: dict[str, Any]
    alerts: list[list[Any]]
    levels: dict[str, int]
    held: dict[str, int]


class Judge:
    """One sample's ``get_alert`` calls, collecting alerts, levels and held levels."""

    def __init__(
        self,
        plugin: str,
        limits: Limits,
        previous: Mapping[str, int],
        hysteresis: float,
        memo: Memo | None = None,
    ) -> None:
        self.plugin = plugin
        self.info = PLUGINS.get(plugin)
        self.limits = limits
        self.previous = previous
        self.hysteresis = hysteresis
        self.memo: Memo = {} if memo is None else memo
        self.alerts: list[list[Any]] = []
        self.levels: dict[str, int] = {}
        self.held: dict[str, int] = {}

    def stat_name(self, header: str) -> str:
        return (f"{self.plugin}_{header}" if header else self.plugin).lower()

    def limit(self, stat: str, level: str) -> float:
        """``<stat>_<level>``, else ``<plugin>_<level>``; 0 when unset."""
        for key in (f"{stat}_{level}", f"{self.plugin}_{level}"):
            if key in self.limits:
                value = self.limits[key]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return 0.0
                return float(value)
        return 0.0

    def has_own_limits(self, stat: str) -> bool:
        """Whether ``stat`` has a non-zero limit of its own (no plugin-wide fallback)."""
        return any(
            not isinstance(v := self.limits.get(f"{stat}_{level}"), bool)
            and isinstance(v, int | float)
            and v
            for level in _THRESHOLDS
        )

    def measurable(self, entry: Mapping[str, Any], field: str) -> bool:
        """The base rule: a rate field is not judged without a time span."""
        info = self.info.fields.get(field) if self.info is not None else None
        return not (info is not None and info.rate and not entry.get("time_since_update"))

    def item_views(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """``{field: view}`` of one entry (or dict) of this plugin, undecorated."""
        return fields_views(self.info, entry)

    def _log_switch(self, stat: str) -> bool | None:
        for key in (f"{stat}_log", f"{self.plugin}_log"):
            value = self.limits.get(key)
            if isinstance(value, bool):
                return value
        return None

    def _rule(self, header: str) -> tuple[str, tuple[float, float, float], bool | None]:
        """``(stat name, thresholds, log switch)`` of ``header``, looked up once per
        plugin (the limits never change while statbus runs)."""
        rule = self.memo.get(header)
        if rule is None:
            stat = self.stat_name(header)
            careful, warning, critical = (self.limit(stat, level) for level in _THRESHOLDS)
            rule = (stat, (careful, warning, critical), self._log_switch(stat))
            if len(self.memo) >= MEMO_SIZE:  # item names churn (containers): stay bounded
                self.memo.clear()
            self.memo[header] = rule
        return rule

    def alert(
        self,
        site: str,
        current: Any,
        *,
        maximum: Any = 100.0,
        header: str = "",
        log: bool = False,
        minimum: float | None = None,
        inverse: bool = False,
    ) -> str:
        """The reference's ``get_alert`` (``get_alert_log`` with ``log=True``);
        ``inverse``: lower is worse (wifi's dBm), a level reached at ``<=`` its limit."""
        if isinstance(current, bool) or not isinstance(current, int | float):
            return "DEFAULT"
        try:
            value = current * 100 / maximum
        except (ZeroDivisionError, TypeError):
            return "DEFAULT"
        stat, thresholds, log_switch = self._rule(header)
        if not any(thresholds):
            return "DEFAULT"
        sign = -1.0 if inverse else 1.0  # lower is worse: compare the opposites
        level = next(
            (i + 1 for i in (2, 1, 0) if thresholds[i] and sign * value >= sign * thresholds[i]),
            0,
        )
        if minimum is not None and current < minimum:
            level = 1
        level = self._hold(site, level, sign * value, tuple(sign * t for t in thresholds))
        self.held[site] = level
        return self._state(stat, level, value, log if log_switch is None else log_switch)

    def record(self, stat: str, level: int, value: float) -> str:
        """A level decided by a plugin's own rule (folders, ports, amps, raid): recorded
        like a threshold's, logged only when ``<stat>_log`` (or ``<plugin>_log``) is on."""
        return self._state(stat, level, value, bool(self._log_switch(stat)))

    def _state(self, stat: str, level: int, value: float, log: bool) -> str:
        self.levels[stat] = level
        state = LEVELS[level]
        if log:
            self.alerts.append([stat.upper(), state, value])
            return state + "_LOG"
        return state

    def _hold(self, site: str, level: int, value: float, thresholds: tuple[float, ...]) -> int:
        """Hysteresis: falling from ``previous``, the value keeps the highest level at or
        below ``previous`` whose threshold it is still within ``hysteresis`` points of,
        so the verdict does not depend on the levels it came through."""
        previous = self.previous.get(site)
        if self.hysteresis <= 0 or previous is None or not level < previous <= 3:
            return level
        for held in range(previous, level, -1):
            threshold = thresholds[held - 1]
            if threshold and value > threshold - self.hysteresis:
                return held
        return level


def _view(decoration: str = "DEFAULT", optional: bool = False) -> dict[str, Any]:
    return {
        "decoration": decoration,
        "optional": optional,
        "additional": False,
        "splittable": False,
        "hidden": False,
    }


_PLAIN_VIEW = _view()
_OPTIONAL_VIEW = _view(optional=True)


def fields_views(info: PluginInfo | None, entry: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: view}`` of ``entry``: every field plain, those the reference marks
    optional (``info.optional_views``) optional."""
    optional = info.optional_views if info is not None else frozenset()
    if not optional:
        return {f: _PLAIN_VIEW.copy() for f in entry}
    return {f: (_OPTIONAL_VIEW if f in optional else _PLAIN_VIEW).copy() for f in entry}


def hide_zero(j: Judge, item: str, entry: Any, views: dict[str, Any]) -> None:
    """With ``hide_zero``, a rate field is hidden until its value exceeds
    ``hide_threshold_bytes``; from then on it stays shown (per item and field, kept in
    the verdict's ``held`` as the reference keeps it in its previous views)."""
    if j.limits.get(f"{j.plugin}_hide_zero") is not True or j.info is None:
        return
    threshold = number(j.limits.get(f"{j.plugin}_hide_threshold_bytes")) or 0.0
    for field in j.info.hide_zero_fields:
        if field not in views:
            continue
        site = f"{item}\0{field}\0shown"
        shown = j.previous.get(site) == 1 or (number(entry.get(field)) or 0.0) > threshold
        if shown:
            j.held[site] = 1
        views[field]["hidden"] = not shown


def compute_views(
    plugin: str,
    data: Any,
    limits: Limits,
    previous: Mapping[str, int] | None = None,
    hysteresis: float = 0.0,
    cpucore: int = 1,
    memo: Memo | None = None,
) -> Verdict:
    """Judge one sample of ``plugin``.

    ``limits`` comes from :func:`effective_limits`; ``previous`` is the ``held`` of the
    previous verdict for this plugin (the levels hysteresis holds, and which
    ``hide_zero`` fields have been shown); ``cpucore`` scales load and context switches;
    ``memo`` (an empty dict at first, then given back with every sample of ``plugin``)
    keeps the limits looked up for each stat.
    """
    judge = Judge(plugin, limits, previous or {}, hysteresis, memo)
    info = judge.info
    rule = info.rule if info is not None else None
    views: dict[str, Any] = {}
    if isinstance(data, dict):
        views = fields_views(info, data)
        if rule is not None and info is not None and info.kind != "list":
            rule(judge, data, views, max(cpucore, 1))
    elif isinstance(data, list) and info is not None and info.key is not None:
        hiding = bool(info.hide_zero_fields)
        for entry in data:
            if not isinstance(entry, dict):
                continue
            item = str(entry.get(info.key))
            item_views = views[item] = fields_views(info, entry)
            if rule is not None:
                rule(judge, entry, item_views, max(cpucore, 1))
            if hiding:
                hide_zero(judge, item, entry, item_views)
    return Verdict(views, judge.alerts, judge.levels, judge.held)
