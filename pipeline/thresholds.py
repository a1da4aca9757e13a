"""Limits and views: the reference's threshold rules as pure functions (no I/O).

* :func:`effective_limits` merges the reference defaults with a plugin's configuration
  into one flat mapping keyed as the reference keys it (``cpu_total_careful`` -> 65.0,
  ``cpu_total_log`` -> True, ``fs_/_critical`` -> 95.0);
* :func:`limits_document` is what ``/<plugin>/limits`` serves (floats, or lists of
  strings, plus ``history_size`` and the plugin's options);
* :func:`compute_views` judges one sample: the views of every field, the alerts to feed
  the events list and the per-stat levels (see :class:`pipeline.events.ViewsEvent`).

The rules of the plugins added later (wifi, folders, ports, amps, gpu, containers, ...)
and the options ``/limits`` shows are in :mod:`pipeline.thresholds_plugins`.

The evaluation is the reference's ``get_alert``: ``value = current * 100 / maximum``,
limits looked up as ``<stat>_<level>`` then ``<plugin>_<level>``, checked with ``>=``
from critical down to careful, a limit of 0 meaning "unset".  statbus adds optional
hysteresis (``hysteresis`` points; 0 reproduces the reference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from pipeline import thresholds_plugins as tp
from pipeline.config import Config, PluginConfig
from pipeline.fields import FIELDS
from pipeline.plugins import PLUGINS

#: level names by number, as the reference's ``glances_thresholds`` numbers them
LEVELS = ("OK", "CAREFUL", "WARNING", "CRITICAL")
_THRESHOLDS = ("careful", "warning", "critical")  # index + 1 is the level

#: a flat limits mapping: thresholds are floats, ``*_log`` switches are bools, and the
#: plugin's own options (``processlist_nice_warning`` -> a tuple) as they are configured
Limits = Mapping[str, Any]


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
        "gpu": {
            **_cwc("gpu_mem", 50, 70, 90),
            **_cwc("gpu_proc", 50, 70, 90),
            **_cwc("gpu_temperature", 60, 70, 80),
        },
        "wifi": _cwc("wifi", -65, -75, -85),  # dBm, lower is worse
        "connections": _cwc("connections_nf_conntrack_percent", 70, 80, 90),
    }
    return dict(tables.get(plugin, {}))


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


#: plugins that have a section in the reference's shipped configuration (they show
#: ``<plugin>_disable``); the others only show ``history_size``
_SECTIONED = frozenset(
    "amps cloud connections containers cpu diskio folders fs gpu ip irq load mem memswap"
    " network percpu ports processcount processlist quicklook raid sensors smart system"
    " vms wifi".split()
)


def has_rules(plugin: str) -> bool:
    """Whether a rule gives ``plugin`` levels or alerts (its verdicts are published; the
    others' views are made on request: all DEFAULT, or decorated for display only)."""
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
    doc.update(tp.options_document(plugin, config))
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


_decorate = tp.decorate


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
    views["list"] = list(j.limits.get("quicklook_list", ("cpu", "mem", "load")))


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


def _raid(j: _Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    """raid is a dict of arrays: each array gets ``{field: view}``, as a list entry does,
    and its ``used`` the reference's raid alert (stat ``raid_<array>``)."""
    for name, array in data.items():
        if not isinstance(array, dict):
            continue
        views[name] = _fields_views("raid", array)
        level = tp.raid_level(array)
        if level is not None:
            used = tp._number(array.get("used"))
            decoration = j.record(j.stat_name(str(name)), level, used or 0.0)
            _decorate(views[name], "used", decoration)


_DICT_RULES: dict[str, Rule] = {
    "cpu": _cpu,
    "load": _load,
    "mem": _mem,
    "memswap": _mem,
    "quicklook": _quicklook,
    "connections": tp.connections,
    "raid": _raid,
}
_ENTRY_RULES: dict[str, Rule] = {
    "fs": _fs,
    "network": _network,
    "diskio": _diskio,
    "sensors": _sensors,
    "wifi": tp.wifi,
    "gpu": tp.gpu,
    "containers": tp.containers,
    "folders": tp.folders,
    "ports": tp.ports,
    "amps": tp.amps,
}
#: rules that only decorate, for display (no level, no alert): their views are made on
#: request, not published (processlist's would be ~600 KB every 2 s)
_DISPLAY_RULES: dict[str, Rule] = {"processlist": tp.processlist}


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
    ``hide_zero`` fields have been shown); ``cpucore``
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
        entry_rule = _ENTRY_RULES.get(plugin) or _DISPLAY_RULES.get(plugin)
        hiding = plugin in tp.HIDE_ZERO_FIELDS
        for entry in data:
            if not isinstance(entry, dict):
                continue
            item = str(entry.get(info.key))
            item_views = views[item] = _fields_views(plugin, entry)
            if entry_rule is not None:
                entry_rule(judge, entry, item_views, max(cpucore, 1))
            if hiding:
                tp.hide_zero(judge, item, entry, item_views)
    return Verdict(views, judge.alerts, judge.levels, judge.held)
