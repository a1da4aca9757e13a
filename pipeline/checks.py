"""Checks of configuration values: each takes the dotted key and the value as written,
and returns the value to keep or raises :class:`ConfigError` naming the key, the value
and the reason, on one line."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
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
