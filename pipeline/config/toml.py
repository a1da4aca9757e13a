"""Writing a configuration as TOML (what ``statbus check-config`` prints): the effective
values, secrets redacted."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pipeline.checks import REDACTED
from pipeline.config.model import Config, WebhookConfig


def _redacted_url(url: str) -> str:
    """``scheme://host[:port]/********``: paths, queries and user info often carry tokens."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    rest = f"/{REDACTED}" if (parts.path not in ("", "/") or parts.query) else parts.path
    return f"{parts.scheme}://{host}{port}{rest}"


def _webhooks_toml(hooks: tuple[WebhookConfig, ...], redact: bool) -> list[str]:
    lines: list[str] = []
    for hook in hooks:
        lines.append("[[webhooks]]")
        for f in dataclasses.fields(hook):
            value = getattr(hook, f.name)
            if f.name == "secret" and redact and value:
                value = REDACTED
            if f.name == "url" and redact:
                value = _redacted_url(value)
            if f.name == "headers":  # an inline table; values may be credentials
                items = ", ".join(
                    f"{toml_value(k)} = {toml_value(REDACTED if redact else v)}"
                    for k, v in value.items()
                )
                lines.append(f"headers = {{{items}}}" if items else "headers = {}")
                continue
            lines.append(f"{f.name} = {toml_value(value)}")
        lines.append("")
    return lines


def to_toml(config: Config, *, redact: bool = True) -> str:
    """The effective configuration as TOML (what ``statbus check-config`` prints)."""
    lines: list[str] = []
    sections = list(config.as_dict(redact=redact).items())
    while sections:
        section, body = sections.pop(0)
        lines.append(f"[{section}]")
        # sub-tables ([mqtt.homeassistant]) and arrays of tables ([[ports.port]]) follow
        # their parent's plain keys
        subs = [(f"{section}.{k}", v) for k, v in body.items() if isinstance(v, dict)]
        sections[:0] = subs
        arrays = [(k, v) for k, v in body.items() if _is_table_array(v)]
        for key, value in body.items():
            if isinstance(value, dict) or _is_table_array(value):
                continue
            if value is None:
                lines.append(f"# {key} is unset")
                continue
            name = key if _BARE_KEY.fullmatch(key) else toml_value(key)
            lines.append(f"{name} = {toml_value(value)}")
        lines.append("")
        for key, entries in arrays:
            for entry in entries:
                lines.append(f"[[{section}.{key}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in entry.items() if v is not None]
                lines.append("")
    lines += _webhooks_toml(config.webhooks, redact)
    return "\n".join(lines)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def toml_value(value: Any) -> str:
    """``value`` (bool, number, str, or a list of them) written as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_toml_char(c) for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _toml_char(c: str) -> str:
    if c in _TOML_ESCAPES:
        return _TOML_ESCAPES[c]
    if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F:
        return f"\\u{ord(c):04x}"
    return c
