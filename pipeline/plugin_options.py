"""The plugin-specific keys of the ``[<plugin>]`` sections (``docs/configuration.md``).

Every plugin section takes the common keys (``disable``, ``refresh``, ``hide``, ...,
checked in :mod:`pipeline.config`) and the thresholds; this module adds the keys that
only some plugins have, with their defaults and checks.  ``PluginConfig.options`` holds
them, every key present (its default when unset), so that a sampler reads
``ctx.config.plugins["ports"].options["port"]`` without a fallback of its own.

Lists of targets are TOML arrays of tables (``[[ports.port]]``, ``[[folders.folder]]``,
``[[amps.amp]]``): each entry is checked like a section and kept as a dict with every
key of its schema (``None`` for an optional key left unset).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pipeline.checks import (
    Check,
    ConfigError,
    boolean,
    choice_list,
    http_url,
    number,
    regex_list,
    string,
    string_list,
)
from pipeline.plugins import PLUGINS


@dataclass(frozen=True, slots=True)
class Option:
    check: Check
    #: ``None``: unset (TOML has no null; such a key is optional)
    default: Any


def _alias(key: str, value: Any) -> Any:
    """``alias``: ``"name:Alias,name2:Alias 2"`` as the reference writes it, or a table
    ``{name = "Alias"}``; the names are matched exactly, else ignoring case (as the
    reference)."""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = []
        for part in value.split(","):
            if not part.strip():
                continue
            name, sep, alias = part.partition(":")
            if not sep:
                raise ConfigError(key, value, f"{part.strip()!r} is not name:Alias")
            pairs.append((name.strip(), alias.strip()))
    else:
        raise ConfigError(key, value, "must be a string name:Alias,... or a table")
    out: dict[str, str] = {}
    for name, alias in pairs:
        if not isinstance(name, str) or not name or not isinstance(alias, str) or not alias:
            raise ConfigError(key, value, "every name and alias must be a non-empty string")
        out[name] = string(max_len=256)(f"{key}.{name}", alias)
    return MappingProxyType(out)


def _int_list(key: str, value: Any) -> Any:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ConfigError(key, value, "must be a list of integers")
    return tuple(value)


def table_list(
    schema: Mapping[str, Option], *, required: tuple[str, ...], max_items: int = 100
) -> Check:
    """An array of tables: each entry checked key by key, with every key of ``schema``
    present (its default when unset); ``required`` keys must be written."""

    def check(key: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise ConfigError(key, value, f"must be an array of tables ([[{key}]])")
        if len(value) > max_items:
            raise ConfigError(key, f"{len(value)} entries", f"at most {max_items}")
        out = []
        for i, entry in enumerate(value):
            prefix = f"{key}[{i}]"
            if not isinstance(entry, dict):
                raise ConfigError(prefix, entry, "must be a table")
            for name in required:
                if name not in entry:
                    raise ConfigError(f"{prefix}.{name}", None, "is required")
            item = {name: option.default for name, option in schema.items()}
            for name, raw in entry.items():
                if name not in schema:
                    known = ", ".join(sorted(schema))
                    raise ConfigError(f"{prefix}.{name}", raw, f"unknown key (known: {known})")
                item[name] = schema[name].check(f"{prefix}.{name}", raw)
            out.append(MappingProxyType(item))
        return tuple(out)

    return check


def _command(key: str, value: Any) -> Any:
    """A command as an argument list (run without a shell): ``["systemctl", "is-active",
    "nginx"]``."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(key, value, 'must be a non-empty list of strings, like ["cmd", "arg"]')
    if not value[0]:
        raise ConfigError(key, value, "the program (first item) must not be empty")
    if any("\x00" in v for v in value):
        raise ConfigError(key, value, "must not contain NUL")
    return tuple(value)


def _regex(key: str, value: Any) -> Any:
    """A regular expression, or a non-empty list of them."""
    if isinstance(value, str):
        return regex_list(key, [value])[0]
    if value == []:
        raise ConfigError(key, value, "must be a regular expression or a non-empty list")
    return regex_list(key, value)


def _socket_path(key: str, value: Any) -> Any:
    """A unix socket path, or ``unix://`` + path as Docker and Podman write it; "" is
    off."""
    value = string(max_len=4096)(key, value)
    value = value.removeprefix("unix://")
    if value and not value.startswith("/"):
        raise ConfigError(key, value, "must be an absolute path (or unix:///path, or empty)")
    return value


def _base_url(key: str, value: Any) -> Any:
    """A service's base URL (paths are appended to it): no trailing ``/``."""
    url: str = http_url(max_len=2048)(key, value)
    return url.rstrip("/")


def _host(key: str, value: Any) -> Any:
    """A host name or address: not empty, no white space, not an option (``-x``)."""
    value = string(max_len=255)(key, value)
    if not value or value.startswith("-") or any(c.isspace() for c in value):
        raise ConfigError(key, value, "must be a host name or address (not empty, no spaces)")
    return value


def _absolute_path(key: str, value: Any) -> Any:
    value = string(max_len=4096)(key, value)
    if not value.startswith("/"):
        raise ConfigError(key, value, "must be an absolute path")
    return value


_PORT_TARGET = {
    "host": Option(_host, ""),
    "port": Option(number(0, 65535, integer=True), 0),
    "description": Option(string(max_len=256), ""),
    "timeout": Option(number(0.1, 60), None),
    "rtt_warning": Option(number(0, 3_600_000), None),
}
_FOLDER = {
    "path": Option(_absolute_path, ""),
    "careful": Option(number(0, 1e12), None),
    "warning": Option(number(0, 1e12), None),
    "critical": Option(number(0, 1e12), None),
    "refresh": Option(number(1, 86400), 60.0),
    "timeout": Option(number(0.1, 3600), 10.0),
}
_AMP = {
    "name": Option(string(max_len=256), ""),
    "regex": Option(_regex, ""),  # required: a list of regexes, or one
    "refresh": Option(number(1, 86400), 3.0),
    "countmin": Option(number(0, 1e9, integer=True), None),
    "countmax": Option(number(0, 1e9, integer=True), None),
    "command": Option(_command, ()),
    "command_timeout": Option(number(0.1, 600), 5.0),
    "one_line": Option(boolean, True),
}

_NICE_WARNING = tuple(n for n in range(-20, 20) if n != 0)
_SORT_KEYS = (
    "auto",
    "cpu_percent",
    "memory_percent",
    "username",
    "name",
    "io_counters",
    "cpu_times",
)
_LEVELS = ("ok", "careful", "warning", "critical")

#: plugin -> its own keys
OPTIONS: dict[str, dict[str, Option]] = {
    "network": {
        # on, as the reference ships them (the spec's /all/limits shows them so)
        "hide_no_up": Option(boolean, True),
        "hide_no_ip": Option(boolean, True),
        "hide_zero": Option(boolean, False),
        "hide_threshold_bytes": Option(number(0, 1e15, integer=True), 0),
    },
    "diskio": {
        "hide_zero": Option(boolean, False),
        "hide_threshold_bytes": Option(number(0, 1e15, integer=True), 0),
    },
    "fs": {"allow": Option(string_list, ())},
    "percpu": {"max_cpu_display": Option(number(1, 100_000, integer=True), 4)},
    "quicklook": {
        "list": Option(choice_list(("cpu", "mem", "swap", "load")), ("cpu", "mem", "load"))
    },
    "processlist": {
        "sort_key": Option(string(choices=_SORT_KEYS), "auto"),
        **{
            f"nice_{lvl}": Option(_int_list, _NICE_WARNING if lvl == "warning" else ())
            for lvl in _LEVELS
        },
        **{
            f"status_{lvl}": Option(
                string_list,
                {"ok": ("R", "W", "P", "I"), "critical": ("Z", "D")}.get(lvl, ()),
            )
            for lvl in _LEVELS
        },
    },
    "ports": {
        "port_default_gateway": Option(boolean, True),
        "scan_timeout": Option(number(0.1, 60), 3.0),
        "port": Option(table_list(_PORT_TARGET, required=("host",)), ()),
    },
    "folders": {"folder": Option(table_list(_FOLDER, required=("path",)), ())},
    "amps": {"amp": Option(table_list(_AMP, required=("name", "regex")), ())},
    "containers": {
        "all": Option(boolean, False),
        "max_name_size": Option(number(1, 1000, integer=True), 20),
        "docker_sock": Option(_socket_path, "/var/run/docker.sock"),
        "podman_sock": Option(_socket_path, "/run/podman/podman.sock"),
        "engine_timeout": Option(number(0.1, 60), 2.0),
    },
    "cloud": {
        "url": Option(_base_url, "http://169.254.169.254"),
        "request_timeout": Option(number(0.1, 60), 3.0),
    },
    "vms": {
        "all": Option(boolean, False),
        "max_name_size": Option(number(1, 1000, integer=True), 20),
        "command_timeout": Option(number(0.1, 600), 5.0),
    },
    "smart": {"command_timeout": Option(number(0.1, 600), 10.0)},
}

#: the plugins whose items can be given an ``alias`` (every list plugin with a key): the
#: alias is matched by ``hide``/``show``; network, diskio and fs entries show it in their
#: ``alias`` field and sensors' replaces the label, as in the reference
ALIASED = frozenset(n for n, i in PLUGINS.items() if i.kind == "list" and i.key and i.sampled)
#: where the alias is written: the entries' ``alias`` field, or the key field itself
ALIAS_FIELD = {"network": "alias", "diskio": "alias", "fs": "alias", "sensors": "label"}


def defaults(plugin: str) -> Mapping[str, Any]:
    return MappingProxyType({k: o.default for k, o in OPTIONS.get(plugin, {}).items()})


def schema(plugin: str) -> dict[str, Check]:
    """The plugin's own keys and their checks (``alias`` for the plugins that take it)."""
    out = {k: o.check for k, o in OPTIONS.get(plugin, {}).items()}
    if plugin in ALIASED:
        out["alias"] = _alias
    return out
