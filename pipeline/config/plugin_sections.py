"""A plugin's section (``[cpu]``, ``[fs]``, ...): the keys every plugin takes, its own
keys (its descriptor's ``options``), and thresholds and ``*_log`` switches of any stat."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pipeline.checks import Check, ConfigError
from pipeline.checks import boolean as _boolean
from pipeline.checks import number as _number
from pipeline.checks import regex_list as _regex_list
from pipeline.config.model import PluginConfig
from pipeline.config.sections import merge_section
from pipeline.plugins import option_schema

PLUGIN_SCHEMA: dict[str, Check] = {
    "disable": _boolean,
    "refresh": _number(0.1, 86400),
    "timeout": _number(0.1, 3600),
    "hysteresis": _number(0, 1e12),
    "hide": _regex_list,
    "show": _regex_list,
}
#: ``careful``/``warning``/``critical``, alone or after a field or item and ``_``
THRESHOLD_KEY = re.compile(r"(?:(?P<stat>.+)_)?(?P<level>careful|warning|critical)")
#: ``log``, alone or after a field or item and ``_``
LOG_KEY = re.compile(r"(?:(?P<stat>.+)_)?log")


def merge_plugin(name: str, base: PluginConfig, raw: Any) -> PluginConfig:
    """A plugin section: fixed keys, the plugin's own keys, and threshold and ``*_log``
    keys of any stat."""
    if not isinstance(raw, dict):
        raise ConfigError(name, raw, "must be a table")
    fixed = {k: v for k, v in raw.items() if k in PLUGIN_SCHEMA}
    limits, logs = dict(base.limits), dict(base.logs)
    own = option_schema(name)
    options, alias = dict(base.options), base.alias
    for key, value in raw.items():
        full = f"{name}.{key}"
        if key in PLUGIN_SCHEMA:
            continue
        if key == "alias" and key in own:
            alias = own[key](full, value)
        elif key in own:
            options[key] = own[key](full, value)
        elif THRESHOLD_KEY.fullmatch(key):
            limits[key] = _number(-1e18, 1e18)(full, value)
        elif LOG_KEY.fullmatch(key):
            logs[key] = _boolean(full, value)
        else:
            known = ", ".join(sorted({*PLUGIN_SCHEMA, *own}))
            raise ConfigError(
                full,
                value,
                f"unknown key (known keys: {known}, and <stat>_careful/_warning/_critical"
                " thresholds and <stat>_log switches)",
            )
    merged: PluginConfig = merge_section(name, PLUGIN_SCHEMA, base, fixed)
    return dataclasses.replace(merged, limits=limits, logs=logs, options=options, alias=alias)
