"""Checks of configuration values: each takes the dotted key and the value as written,
and returns the value to keep or raises :class:`ConfigError` naming the key, the value
and the reason, on one line."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: what a secret is shown as
REDACTED = "********"

#: a value longer than this (as quoted) is cut in an error message
MAX_SHOWN = 200


def one_line(text: str) -> str:
    """``text`` with every unprintable character escaped: a key quoted in TOML may hold
    a newline or a terminal escape sequence, and an error stays one harmless line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class ConfigError(ValueError):
    """A bad configuration value: ``key``, ``value`` and ``reason``, shown on one line."""

    def __init__(self, key: str, value: Any, reason: str) -> None:
        self.key, self.value, self.reason = key, value, reason
        shown = repr(value)
        if len(shown) > MAX_SHOWN:
            shown = f"{shown[:MAX_SHOWN]}... ({len(shown)} characters)"
        super().__init__(f"config error: {one_line(key)} = {shown}: {one_line(reason)}")


Check = Callable[[str, Any], Any]


def number(lo: float, hi: float = math.inf, *, integer: bool = False) -> Check:
    def check(key: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "an integer" if integer else "a number"
            raise ConfigError(key, value, f"must be {kind}, not {type(value).__name__}")
        if integer and not isinstance(value, int):
            raise ConfigError(key, value, "must be an integer")
        if not lo <= value <= hi or (isinstance(value, float) and math.isnan(value)):
            bound = f"between {lo:g} and {hi:g}" if hi != math.inf else f"at least {lo:g}"
            raise ConfigError(key, value, f"must be {bound}")
        return value if integer else float(value)

    return check


def boolean(key: str, value: Any) -> Any:
    if not isinstance(value, bool):
        raise ConfigError(key, value, f"must be true or false, not {type(value).__name__}")
    return value


def string(*, choices: tuple[str, ...] = (), max_len: int = 4096) -> Check:
    def check(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise ConfigError(key, value, f"must be a string, not {type(value).__name__}")
        if choices and value not in choices:
            raise ConfigError(key, value, f"must be one of {', '.join(choices)}")
        if len(value) > max_len or "\x00" in value:
            raise ConfigError(key, value, f"must be at most {max_len} characters, no NUL")
        return value

    return check


def string_list(key: str, value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, value, "must be a list of non-empty strings")
    return tuple(value)


def regex_list(key: str, value: Any) -> Any:
    items = string_list(key, value)
    for item in items:
        try:
            re.compile(item)
        except re.error as exc:
            raise ConfigError(key, item, f"not a valid regular expression: {exc}") from None
    return items


def choice_list(choices: tuple[str, ...], reason: str = "") -> Check:
    """A list of strings, each one of ``choices`` (else ``reason``, by default "must be
    one of ...")."""

    def check(key: str, value: Any) -> Any:
        items = string_list(key, value)
        for item in items:
            if item not in choices:
                raise ConfigError(key, item, reason or f"must be one of {', '.join(choices)}")
        return items

    return check


def http_url(*, max_len: int) -> Check:
    """An ``http://`` or ``https://`` URL a request can be made to: a host (that IDNA
    can encode), a port that is not 0, no white space."""

    def check(key: str, value: Any) -> Any:
        from urllib.parse import urlsplit

        value = string(max_len=max_len)(key, value)
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 -- raises ValueError on a bad port
        except ValueError as exc:
            raise ConfigError(key, value, f"not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise ConfigError(key, value, "must be an http:// or https:// URL")
        if not parts.hostname:
            raise ConfigError(key, value, "must name a host")
        if any(c.isspace() for c in value):
            raise ConfigError(key, value, "must not contain white space")
        if parts.port == 0:
            raise ConfigError(key, value, "port 0 cannot be connected to")
        try:  # the host as a request will encode it (IDNA), so it cannot fail later
            parts.hostname.encode("idna")
        except UnicodeError as exc:
            raise ConfigError(key, value, f"not a valid host name: {exc}") from None
        return value

    return check


def url_without_secrets(url: str) -> str:
    """``url`` with its user info and query (credentials, tokens) shown as ``********``,
    for the configuration's display and for logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# --- the plugins' own keys (pipeline/plugins/*.py: their ``options``) ----------------


@dataclass(frozen=True, slots=True)
class Option:
    """One key of a plugin's own: its check and its default (``None``: unset; TOML has
    no null, so such a key is optional)."""

    check: Check
    default: Any


def alias_map(key: str, value: Any) -> Any:
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


def int_list(key: str, value: Any) -> Any:
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


def command(key: str, value: Any) -> Any:
    """A command as an argument list (run without a shell): ``["systemctl", "is-active",
    "nginx"]``."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(key, value, 'must be a non-empty list of strings, like ["cmd", "arg"]')
    if not value[0]:
        raise ConfigError(key, value, "the program (first item) must not be empty")
    if any("\x00" in v for v in value):
        raise ConfigError(key, value, "must not contain NUL")
    return tuple(value)


def regex_or_list(key: str, value: Any) -> Any:
    """A regular expression, or a non-empty list of them."""
    if isinstance(value, str):
        return regex_list(key, [value])[0]
    if value == []:
        raise ConfigError(key, value, "must be a regular expression or a non-empty list")
    return regex_list(key, value)


def socket_path(key: str, value: Any) -> Any:
    """A unix socket path, or ``unix://`` + path as Docker and Podman write it; "" is
    off."""
    value = string(max_len=4096)(key, value)
    value = value.removeprefix("unix://")
    if value and not value.startswith("/"):
        raise ConfigError(key, value, "must be an absolute path (or unix:///path, or empty)")
    return value


def base_url(key: str, value: Any) -> Any:
    """A service's base URL (paths are appended to it): no trailing ``/``."""
    url: str = http_url(max_len=2048)(key, value)
    return url.rstrip("/")


def host(key: str, value: Any) -> Any:
    """A host name or address: not empty, no white space, not an option (``-x``)."""
    value = string(max_len=255)(key, value)
    if not value or value.startswith("-") or any(c.isspace() for c in value):
        raise ConfigError(key, value, "must be a host name or address (not empty, no spaces)")
    return value


def absolute_path(key: str, value: Any) -> Any:
    value = string(max_len=4096)(key, value)
    if not value.startswith("/"):
        raise ConfigError(key, value, "must be an absolute path")
    return value
