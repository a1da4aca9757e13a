"""Limits and views: the reference's threshold rules as pure functions (no I/O).

* :func:`effective_limits` merges the reference defaults with a plugin's configuration
  into one flat mapping keyed as the reference keys it (``cpu_total_careful`` -> 65.0,
  ``cpu_total_log`` -> True, ``fs_/_critical`` -> 95.0);
* :func:`limits_document` is what ``/<plugin>/limits`` serves (floats, or lists of
  strings, plus ``history_size`` and the plugin's options);
* :func:`compute_views` judges one sample: the views of every field, the alerts to feed
  the events list and the per-stat levels (see :class:`pipeline.events.ViewsEvent`).

The evaluation is the reference's ``get_alert``: ``value = current * 100 / maximum``,
limits looked up as ``<stat>_<level>`` then ``<plugin>_<level>``, checked with ``>=``
from critical down to careful, a limit of 0 meaning "unset".  statbus adds optional
hysteresis (``hysteresis`` points; 0 reproduces the reference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from pipeline.config import Config, PluginConfig
from pipeline.fields import FIELDS
from pipeline.plugins import PLUGINS

#: level names by number, as the reference's ``glances_thresholds`` numbers them
LEVELS = ("OK", "CAREFUL", "WARNING", "CRITICAL")
_THRESHOLDS = ("careful", "warning", "critical")  # index + 1 is the level

#: a flat limits mapping: thresholds are floats, ``*_log`` switches are bools
Limits = Mapping[str, float | bool]


def _cwc(stat: str, careful: float, warning: float, critical: float) -> dict[str, float]:
    return {
        f"{stat}_careful": float(careful),
        f"{stat}_warning": float(warning),
        f"{stat}_critical": float(critical),
    }


def _bottleneck(stat: str, limit: float) -> dict[str, float]:
    # The reference's "80 %, 90 %, 100 % of a bottleneck", computed as it does.
    return _cwc(stat, limit - limit * 0.20, limit - limit * 0.10, limit)


def default_limits(plugin: str, ncpu: int) -> dict[str, float | bool]:
    """The reference's defaults (code and shipped configuration) for ``plugin``."""
    if plugin == "cpu":
        return {
            **_cwc("cpu_user", 50, 70, 90),
            **_cwc("cpu_system", 50, 70, 90),
            **_cwc("cpu_steal", 50, 70, 90),
            **_cwc("cpu_total", 65, 75, 85),
            **_bottleneck("cpu_iowait", 100.0 / ncpu),
            **_bottleneck("cpu_ctx_switches", 50000.0 * ncpu),
            "cpu_user_log": False,
            "cpu_system_log": False,
            "cpu_total_log": True,
        }
    tables: dict[str, dict[str, float | bool]] = {
        "percpu": {
            **_cwc("percpu_user", 50, 70, 90),
            **_cwc("percpu_system", 50, 70, 90),
            **_cwc("percpu_iowait", 50, 70, 90),
        },
        # per core: the reference compares min15 * 100 / (100 * cores) with these
        "load": _cwc("load", 0.7, 1.0, 5.0),
        "mem": _cwc("mem", 50, 70, 90),
        "memswap": _cwc("memswap", 50, 70, 90),
        "fs": _cwc("fs", 50, 70, 90),
        "network": {**_cwc("network_rx", 70, 80, 90), **_cwc("network_tx", 70, 80, 90)},
        "diskio": {
            **_cwc("diskio_rx_latency", 10, 20, 50),
            **_cwc("diskio_tx_latency", 10, 20, 50),
        },
        "sensors": {
            **_cwc("sensors_temperature_hdd", 45, 52, 60),
            **_cwc("sensors_battery", 70, 80, 90),
        },
        "quicklook": {
            **_cwc("quicklook_cpu", 50, 70, 90),
            **_cwc("quicklook_mem", 50, 70, 90),
            **_cwc("quicklook_swap", 50, 70, 90),
            **_cwc("quicklook_load", 70, 100, 500),
        },
        "processlist": {
            **_cwc("processlist_cpu", 50, 70, 90),
            **_cwc("processlist_mem", 50, 70, 90),
        },
    }
    return dict(tables.get(plugin, {}))


def effective_limits(plugin: str, config: PluginConfig, ncpu: int) -> dict[str, float | bool]:
    """Defaults overlaid with the plugin's configured thresholds and ``*_log`` switches.

    A configured key is prefixed with the plugin name and lower-cased, as the
    reference's INI parser does: ``[fs] "/_critical"`` -> ``fs_/_critical``,
    ``[sensors] temperature_core_Ambient_warning`` ->
    ``sensors_temperature_core_ambient_warning``.
    """
    limits = default_limits(plugin, ncpu)
    for key, value in config.limits.items():
        limits[f"{plugin}_{key}".lower()] = float(value)
    for key, switch in config.logs.items():
        limits[f"{plugin}_{key}".lower()] = bool(switch)
    return limits


#: plugins that have a section in the reference's shipped configuration (they show
#: ``<plugin>_disable``); the others only show ``history_size``
_SECTIONED = frozenset(
    "cpu diskio fs ip load mem memswap network percpu processcount processlist quicklook"
    " sensors system".split()
)
#: options of the reference's shipped configuration that describe what statbus does
_OPTIONS: dict[str, dict[str, Any]] = {
    "diskio": {"diskio_hide_zero": ["False"]},
    "network": {"network_hide_zero": ["False"]},
    "ip": {"ip_public_disabled": ["True"]},
    "percpu": {"percpu_max_cpu_display": 4.0},
    "processlist": {
        "processlist_nice_warning": [str(n) for n in range(-20, 20) if n != 0],
        "processlist_status_critical": ["Z", "D"],
        "processlist_status_ok": ["R", "W", "P", "I"],
    },
    "quicklook": {"quicklook_bar_char": ["|"], "quicklook_list": ["cpu", "mem", "load"]},
}


def has_rules(plugin: str) -> bool:
    """Whether any threshold rule judges ``plugin`` (the others' views are all DEFAULT)."""
    return plugin in _DICT_RULES or plugin in _ENTRY_RULES


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
    if plugin in _SECTIONED or own.disable:
        doc[f"{plugin}_disable"] = [str(own.disable)]
    doc.update(_OPTIONS.get(plugin, {}))
    if own.hide:
        doc[f"{plugin}_hide"] = list(own.hide)
    if own.show:
        doc[f"{plugin}_show"] = list(own.show)
    if own.refresh is not None:
        doc[f"{plugin}_refresh"] = float(own.refresh)
    if own.hysteresis:
        doc[f"{plugin}_hysteresis"] = float(own.hysteresis)
    for key, value in effective_limits(plugin, own, ncpu).items():
        doc[key] = [str(value)] if isinstance(value, bool) else float(value)
    return dict(sorted(doc.items()))


# --- evaluation ---------------------------------------------------------------------


#: a header → its stat name, thresholds and log switch (see ``_Judge._rule``)
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


class _Judge:
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
                return 0.0 if isinstance(value, bool) else float(value)
        return 0.0

    def has_own_limits(self, stat: str) -> bool:
        """Whether ``stat`` has a non-zero limit of its own (no plugin-wide fallback)."""
        return any(
            not isinstance(v := self.limits.get(f"{stat}_{level}"), bool) and v
            for level in _THRESHOLDS
        )

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
        minimum: float = 0.0,
    ) -> str:
        """The reference's ``get_alert`` (``get_alert_log`` with ``log=True``)."""
        if isinstance(current, bool) or not isinstance(current, int | float):
            return "DEFAULT"
        try:
            value = current * 100 / maximum
        except (ZeroDivisionError, TypeError):
            return "DEFAULT"
        stat, thresholds, log_switch = self._rule(header)
        if not any(thresholds):
            return "DEFAULT"
        level = next(
            (i + 1 for i in (2, 1, 0) if thresholds[i] and value >= thresholds[i]),
            0,
        )
        if current < minimum:
            level = 1
        level = self._hold(site, level, value, thresholds)
        self.held[site] = level
        self.levels[stat] = level
        state = LEVELS[level]
        if log if log_switch is None else log_switch:
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


#: fields the reference marks ``optional`` in its views
_OPTIONAL: dict[str, frozenset[str]] = {
    "network": frozenset({"alias"}),
    "cpu": frozenset(
        {"nice", "irq", "steal", "ctx_switches", "interrupts", "soft_interrupts", "syscalls"}
    ),
    "mem": frozenset({"active", "inactive", "buffers", "cached"}),
}


def _fields_views(plugin: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    optional = _OPTIONAL.get(plugin)
    if optional is None:
        return {f: _PLAIN_VIEW.copy() for f in entry}
    return {f: (_OPTIONAL_VIEW if f in optional else _PLAIN_VIEW).copy() for f in entry}


def _measurable(plugin: str, entry: Mapping[str, Any], field: str) -> bool:
    """The base rule: a rate field is not judged without a time span."""
    info = FIELDS.get(plugin, {}).get(field)
    return not (info is not None and info.rate and not entry.get("time_since_update"))


def _decorate(views: dict[str, Any], field: str, decoration: str) -> None:
    if field in views:
        views[field]["decoration"] = decoration


Rule = Callable[[_Judge, Any, dict[str, Any], int], None]


def _cpu(j: _Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    for field in ("user", "system", "iowait", "total"):  # alert and log
        if field in data:
            _decorate(views, field, j.alert(field, data[field], header=field, log=True))
    if "steal" in data:
        _decorate(views, "steal", j.alert("steal", data["steal"], header="steal"))
    if "ctx_switches" in data and _measurable("cpu", data, "ctx_switches"):
        decoration = j.alert(
            "ctx_switches", data["ctx_switches"], maximum=100 * cpucore, header="ctx_switches"
        )
        _decorate(views, "ctx_switches", decoration)


def _load(j: _Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    # min15 then min5: both are the stat "load", so its level is min5's (as the reference)
    if "min15" in data:
        _decorate(views, "min15", j.alert("min15", data["min15"], maximum=100 * cpucore, log=True))
    if "min5" in data:
        _decorate(views, "min5", j.alert("min5", data["min5"], maximum=100 * cpucore))


def _mem(j: _Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    decoration = j.alert("percent", data.get("used"), maximum=data.get("total"), log=True)
    _decorate(views, "percent", decoration)


def _quicklook(j: _Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    for field in ("cpu", "mem", "swap", "load"):
        if field in data:
            _decorate(views, field, j.alert(field, data[field], header=field))
    views["list"] = ["cpu", "mem", "load"]


def _fs(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    if "ro" in str(entry.get("options", "")).split(","):
        return
    size, free, mnt = entry.get("size"), entry.get("free"), str(entry.get("mnt_point"))
    if isinstance(size, int | float) and isinstance(free, int | float):
        _decorate(views, "used", j.alert(f"{mnt}\0used", size - free, maximum=size, header=mnt))


def _rate_per_sec(entry: Any, field: str) -> float | None:
    rate = entry.get(f"{field}_rate_per_sec")
    if isinstance(rate, int | float):
        return float(rate)
    delta, elapsed = entry.get(field), entry.get("time_since_update")
    if isinstance(delta, int | float) and isinstance(elapsed, int | float) and elapsed:
        return float(delta // elapsed)
    return None


def _network(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    if not entry.get("time_since_update"):
        return  # no time span to measure a rate over
    name = str(entry.get("interface_name")).split(":")[0]
    speed = entry.get("speed")
    for way, field in (("rx", "bytes_recv"), ("tx", "bytes_sent")):
        rate = _rate_per_sec(entry, field)
        if rate is None:
            continue
        bps = int(rate * 8)
        site = f"{name}\0{way}"
        decoration = j.alert(site, bps, header=f"{name}_{way}")  # absolute, per interface
        if decoration == "DEFAULT" and speed:  # else a percent of the link speed
            decoration = j.alert(site, bps, maximum=speed, header=way)
        # The reference gives bytes_sent_rate_per_sec the rx decoration; statbus does not.
        _decorate(views, field, decoration)
        _decorate(views, f"{field}_rate_per_sec", decoration)


def _diskio(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    disk = str(entry.get("disk_name"))
    if entry.get("time_since_update"):
        for way, field in (("rx", "read_bytes"), ("tx", "write_bytes")):
            rate = _rate_per_sec(entry, field)
            if rate is not None:
                decoration = j.alert(f"{disk}\0{way}", int(rate), header=f"{disk}_{way}")
                _decorate(views, field, decoration)
                _decorate(views, f"{field}_rate_per_sec", decoration)
    for way, field in (("rx", "read_latency"), ("tx", "write_latency")):
        if field in entry:
            site = f"{disk}\0{field}"
            _decorate(views, field, j.alert(site, entry[field], header=f"{way}_latency"))


def _sensors(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    value = entry.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value:
        return
    kind, label = str(entry.get("type")), str(entry.get("label"))
    current = 100 - value if kind == "battery" else value  # battery: judged on what is used
    site = f"{label}\0value"
    if j.has_own_limits(j.stat_name(f"{kind}_{label}")):
        decoration = j.alert(site, current, header=f"{kind}_{label}")
    else:
        decoration = j.alert(site, current, header=kind)
    if decoration == "DEFAULT" and kind.startswith("temperature"):
        decoration = _system_limits(value, entry.get("warning"), entry.get("critical"))
    _decorate(views, "value", decoration)


def _system_limits(value: float, warning: Any, critical: Any) -> str:
    """A sensor's own high (warning) and critical temperatures, as psutil reports them."""
    if isinstance(critical, int | float) and critical and value >= critical:
        return "CRITICAL"
    if isinstance(warning, int | float) and warning and value >= warning:
        return "WARNING"
    return "OK" if critical or warning else "DEFAULT"


_DICT_RULES: dict[str, Rule] = {
    "cpu": _cpu,
    "load": _load,
    "mem": _mem,
    "memswap": _mem,
    "quicklook": _quicklook,
}
_ENTRY_RULES: dict[str, Rule] = {
    "fs": _fs,
    "network": _network,
    "diskio": _diskio,
    "sensors": _sensors,
}


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
    previous verdict for this plugin (only read when ``hysteresis > 0``); ``cpucore``
    scales load and context switches; ``memo`` (an empty dict at first, then given back
    with every sample of ``plugin``) keeps the limits looked up for each stat.
    """
    judge = _Judge(plugin, limits, previous or {}, hysteresis, memo)
    info = PLUGINS.get(plugin)
    views: dict[str, Any] = {}
    if isinstance(data, dict):
        views = _fields_views(plugin, data)
        dict_rule = _DICT_RULES.get(plugin)
        if dict_rule is not None:
            dict_rule(judge, data, views, max(cpucore, 1))
    elif isinstance(data, list) and info is not None and info.key is not None:
        entry_rule = _ENTRY_RULES.get(plugin)
        for entry in data:
            if not isinstance(entry, dict):
                continue
            item_views = views[str(entry.get(info.key))] = _fields_views(plugin, entry)
            if entry_rule is not None:
                entry_rule(judge, entry, item_views, max(cpucore, 1))
    return Verdict(views, judge.alerts, judge.levels, judge.held)
