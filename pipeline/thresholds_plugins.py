"""The threshold rules of the plugins added for issue 7, and the options ``/limits`` shows.

:mod:`pipeline.thresholds` holds the reference's ``get_alert`` (:class:`~pipeline.
thresholds._Judge`) and the rules of the original plugins; this module holds the rules
that need more than it (the inverted wifi scale, the folders, ports, amps and raid
levels, the processlist nice/status lists, the ``hide_zero`` flag) and those of gpu,
containers and connections.  A rule gets the judge, one entry (or the dict sample) and
that entry's ``{field: view}`` to decorate; it reads the plugin's options from the
judge's limits, where :func:`pipeline.thresholds.effective_limits` puts them as
``<plugin>_<option>`` (the reference's own namespace: ``processlist_nice_warning``).

Nothing here imports :mod:`pipeline.thresholds` at run time (it imports this module).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline import plugin_options
from pipeline.config import Config

if TYPE_CHECKING:
    from pipeline.thresholds import _Judge

# level numbers, as pipeline.thresholds.LEVELS numbers them
OK, CAREFUL, WARNING, CRITICAL = range(4)


def decorate(views: dict[str, Any], field: str, decoration: str) -> None:
    if field in views:
        views[field]["decoration"] = decoration


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- rules built on get_alert ---------------------------------------------------------


def wifi(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``quality_level`` in dBm, lower is worse: ``<= critical`` is CRITICAL, ...
    Limits ``wifi_<ssid>_*`` when the hotspot has any, else ``wifi_*``."""
    ssid = str(entry.get("ssid"))
    header = ssid if j.has_own_limits(j.stat_name(ssid)) else ""
    site = f"{ssid}\0quality_level"
    decoration = j.alert(site, entry.get("quality_level"), header=header, inverse=True)
    decorate(views, "quality_level", decoration)


def connections(j: _Judge, data: Any, views: dict[str, Any], cpucore: int) -> None:
    """``nf_conntrack_percent`` judged on its value (the reference always answers OK)."""
    if "nf_conntrack_percent" in data:
        field = "nf_conntrack_percent"
        decorate(views, field, j.alert(field, data[field], header=field))


def gpu(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``proc``, ``mem``, ``temperature``: limits ``gpu_<gpu_id>_<field>_*`` when the
    GPU has any, else ``gpu_<field>_*`` (as sensors: per item, else per field)."""
    gpu_id = str(entry.get("gpu_id"))
    for field in ("proc", "mem", "temperature"):
        if field not in entry:
            continue
        own = f"{gpu_id}_{field}"
        header = own if j.has_own_limits(j.stat_name(own)) else field
        decorate(views, field, j.alert(f"{gpu_id}\0{field}", entry[field], header=header))


def containers(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``cpu_percent`` against ``containers_<name>_cpu_*``, else ``containers_cpu_*``;
    ``memory_usage`` less ``memory_inactive_file``, as a percent of ``memory_limit``,
    against ``containers_<name>_mem_*``, else ``containers_mem_*``.  No default limits:
    DEFAULT unless configured."""
    name = str(entry.get("name"))
    cpu = entry.get("cpu_percent")
    decoration = j.alert(f"{name}\0cpu", cpu, header=f"{name}_cpu")
    if decoration == "DEFAULT":
        decoration = j.alert(f"{name}\0cpu", cpu, header="cpu")
    decorate(views, "cpu_percent", decoration)
    usage, limit = _number(entry.get("memory_usage")), _number(entry.get("memory_limit"))
    if usage is None or not limit:
        return
    used = usage - (_number(entry.get("memory_inactive_file")) or 0.0)
    decoration = j.alert(f"{name}\0mem", used, maximum=limit, header=f"{name}_mem")
    if decoration == "DEFAULT":
        decoration = j.alert(f"{name}\0mem", used, maximum=limit, header="mem")
    decorate(views, "memory_usage", decoration)


# --- rules with levels of their own ---------------------------------------------------


def folders(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``size``: ERROR when ``errno`` is not 0, else the highest of the folder's own
    ``critical``/``warning``/``careful`` (MB) that ``size`` exceeds (strictly, bytes >
    int(MB) × 1 000 000), else OK, a folder without thresholds included."""
    if entry.get("errno"):
        decorate(views, "size", "ERROR")  # not a level: recorded nowhere
        return
    size = _number(entry.get("size"))
    if size is None:
        return
    level = OK
    for number, name in ((CRITICAL, "critical"), (WARNING, "warning"), (CAREFUL, "careful")):
        limit = _number(entry.get(name))
        if limit is not None and size > int(limit) * 1_000_000:
            level = number
            break
    stat = j.stat_name(str(entry.get("path")))
    decorate(views, "size", j.record(stat, level, size / 1_000_000))


def ports(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``status``: CRITICAL when False (refused or timed out), WARNING when a round-trip
    above the entry's ``rtt_warning`` (seconds), CAREFUL when None (not scanned yet, or no
    ``ping``), else OK; the most severe wins."""
    status, rtt_warning = entry.get("status"), _number(entry.get("rtt_warning"))
    rtt = _number(status)
    if status is False:
        level = CRITICAL
    elif rtt is not None and rtt_warning is not None and rtt > rtt_warning:
        level = WARNING
    elif status is None:
        level = CAREFUL
    else:
        level = OK
    stat = j.stat_name(f"{entry.get('indice')}_rtt")
    decorate(views, "status", j.record(stat, level, rtt or 0.0))


def amps_level(count: Any, countmin: Any, countmax: Any) -> int:
    """The reference's AMP alert: a count within [countmin, countmax] is OK (a missing
    bound is the count itself), outside WARNING; no process at all is OK only when
    countmin is 0 (or unset), else CRITICAL."""
    if _number(count) is None:
        return OK
    count = int(count)
    low = count if _number(countmin) is None else int(countmin)
    high = count if _number(countmax) is None else int(countmax)
    if count > 0:
        return OK if low <= count <= high else WARNING
    return OK if low == 0 else CRITICAL


def amps(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    count = entry.get("count")
    level = amps_level(count, entry.get("countmin"), entry.get("countmax"))
    stat = j.stat_name(str(entry.get("name")))
    decorate(views, "count", j.record(stat, level, _number(count) or 0.0))


def raid_level(array: Mapping[str, Any]) -> int | None:
    """The reference's raid alert (``None``: DEFAULT): raid0 OK, an inactive array
    CRITICAL, fewer devices used than the array has WARNING, else OK."""
    if array.get("type") == "raid0":
        return OK
    if array.get("status") == "inactive":
        return CRITICAL
    try:
        used, available = int(array["used"]), int(array["available"])
    except (KeyError, TypeError, ValueError):  # pymdstat gives digit strings, or None
        return None
    return WARNING if used < available else OK


# --- display only (no level, no alert) -------------------------------------------------

_LIST_LEVELS = ("critical", "warning", "careful", "ok")


def _listed(limits: Mapping[str, Any], option: str, value: str) -> str | None:
    for level in _LIST_LEVELS:
        listed = limits.get(f"processlist_{option}_{level}")
        if isinstance(listed, tuple | list) and value in (str(v) for v in listed):
            return level.upper()
    return None


def processlist(j: _Judge, entry: Any, views: dict[str, Any], cpucore: int) -> None:
    """``nice`` by the ``nice_<level>`` lists, ``status`` by the ``status_<level>`` lists,
    the most severe listing winning, as the reference's process list shows them; a
    value in no list is DEFAULT, except status ``R`` (OK)."""
    if "nice" in entry and entry["nice"] is not None:
        decorate(views, "nice", _listed(j.limits, "nice", str(entry["nice"])) or "DEFAULT")
    if "status" in entry and entry["status"] is not None:
        status = str(entry["status"])
        fallback = "OK" if status == "R" else "DEFAULT"
        decorate(views, "status", _listed(j.limits, "status", status) or fallback)


#: the fields ``hide_zero`` hides (the reference's ``hide_zero_fields``)
HIDE_ZERO_FIELDS = {
    "network": ("bytes_recv_rate_per_sec", "bytes_sent_rate_per_sec"),
    "diskio": ("read_bytes_rate_per_sec", "write_bytes_rate_per_sec"),
}


def hide_zero(j: _Judge, item: str, entry: Any, views: dict[str, Any]) -> None:
    """With ``hide_zero``, a rate field is hidden until its value exceeds
    ``hide_threshold_bytes``; from then on it stays shown (per item and field, kept in
    the verdict's ``held`` as the reference keeps it in its previous views)."""
    if j.limits.get(f"{j.plugin}_hide_zero") is not True:
        return
    threshold = _number(j.limits.get(f"{j.plugin}_hide_threshold_bytes")) or 0.0
    for field in HIDE_ZERO_FIELDS[j.plugin]:
        if field not in views:
            continue
        site = f"{item}\0{field}\0shown"
        shown = j.previous.get(site) == 1 or (_number(entry.get(field)) or 0.0) > threshold
        if shown:
            j.held[site] = 1
        views[field]["hidden"] = not shown


# --- /limits: the plugins' own options -------------------------------------------------

#: options the spec's ``/all/limits`` example shows whatever their value; any other
#: option is shown when it differs from its default (an empty one never is)
_ALWAYS = {
    "network": frozenset({"hide_zero", "hide_no_up", "hide_no_ip"}),
    "diskio": frozenset({"hide_zero"}),
    "percpu": frozenset({"max_cpu_display"}),
    "quicklook": frozenset({"list"}),
    "ports": frozenset({"port_default_gateway", "scan_timeout"}),
    "containers": frozenset({"all", "max_name_size"}),
    # the level lists, when not empty
    "processlist": frozenset(f"{o}_{lvl}" for o in ("nice", "status") for lvl in _LIST_LEVELS),
}
#: statbus key -> the reference's (``[ports] timeout`` is statbus's sampler timeout)
_RENAMED = {("ports", "scan_timeout"): "timeout"}
#: arrays of tables, shown as the reference's INI writes them: ``port_1_host``
_TABLES = {("ports", "port"), ("folders", "folder"), ("amps", "amp")}
#: reference options with no statbus key, that describe what statbus does
_FIXED: dict[str, dict[str, Any]] = {
    "ip": {"ip_public_disabled": ["True"]},
    "quicklook": {"quicklook_bar_char": ["|"]},
}


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
    """The plugin's own options as ``/<plugin>/limits`` shows them."""
    own = config.plugins[plugin]
    defaults = plugin_options.defaults(plugin)
    always = _ALWAYS.get(plugin, frozenset())
    doc: dict[str, Any] = dict(_FIXED.get(plugin, {}))
    for key, value in own.options.items():
        if (plugin, key) in _TABLES:
            for n, table in enumerate(value, 1):
                for name, item in table.items():
                    shown = limit_value(item)
                    if shown is not None:
                        doc[f"{plugin}_{key}_{n}_{name}"] = shown
            continue
        if key not in always and value == defaults.get(key):
            continue
        shown = limit_value(value)
        if shown is not None:
            doc[f"{plugin}_{_RENAMED.get((plugin, key), key)}"] = shown
    if plugin == "ports":  # the reference ships [ports] refresh=30
        doc["ports_refresh"] = float(config.refresh_of(plugin))
    return doc
