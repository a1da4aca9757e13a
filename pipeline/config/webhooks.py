"""``[[webhooks]]``: an array of tables, each receiver checked like a section."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pipeline.checks import REDACTED, Check, ConfigError, http_url
from pipeline.checks import boolean as _boolean
from pipeline.checks import number as _number
from pipeline.checks import string as _string
from pipeline.config.model import WEBHOOK_FORMATS, WebhookConfig
from pipeline.config.sections import merge_section

_WEBHOOK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: header names (RFC 9110 tokens) statbus sets itself and a config may not override
_WEBHOOK_OWN_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "x-statbus-signature",
        "x-statbus-delivery",
        # framing: a request with these set by hand could not be read
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
    }
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _webhook_name(key: str, value: Any) -> Any:
    value = _string(max_len=64)(key, value)
    if not _WEBHOOK_NAME.fullmatch(value):
        raise ConfigError(key, value, "must be 1-64 letters, digits, '.', '_' or '-'")
    return value


def _webhook_headers(key: str, value: Any) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(key, value, "must be a table of strings")
    for name, header in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ConfigError(f"{key}.{name}", header, "not a valid HTTP header name")
        if name.lower() in _WEBHOOK_OWN_HEADERS:
            raise ConfigError(f"{key}.{name}", REDACTED, "is set by statbus itself")
        # header values are often credentials (Authorization): never quoted back
        if not isinstance(header, str) or any(c in header for c in "\r\n\x00"):
            raise ConfigError(f"{key}.{name}", REDACTED, "must be a string on one line")
        if not header.isascii():
            raise ConfigError(f"{key}.{name}", REDACTED, "must be ASCII (an HTTP header value)")
    return dict(value)


WEBHOOK_SCHEMA: dict[str, Check] = {
    "url": http_url(max_len=4096),
    "name": _webhook_name,
    "format": _string(choices=WEBHOOK_FORMATS),
    "secret": _string(max_len=1024),
    "headers": _webhook_headers,
    "timeout": _number(0.1, 300),
    "min_state": _string(choices=("WARNING", "CRITICAL")),
    "send_resolved": _boolean,
    "repeat_interval": _number(0, 30 * 86400),
    "max_attempts": _number(1, 100, integer=True),
    "backoff_initial": _number(0.01, 3600),
    "backoff_max": _number(0.01, 86400),
    "queue_size": _number(1, 100_000, integer=True),
}


def parse_webhooks(raw: Any) -> tuple[WebhookConfig, ...]:
    """``[[webhooks]]``: an array of tables, each checked like a section."""
    if not isinstance(raw, list):
        raise ConfigError("webhooks", raw, "must be an array of tables ([[webhooks]])")
    out: list[WebhookConfig] = []
    for i, entry in enumerate(raw):
        prefix = f"webhooks[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(prefix, entry, "must be a table")
        if "url" not in entry:
            raise ConfigError(f"{prefix}.url", None, "is required")
        hook: WebhookConfig = merge_section(prefix, WEBHOOK_SCHEMA, WebhookConfig(url=""), entry)
        if not hook.name:
            hook = dataclasses.replace(hook, name=f"webhook{i + 1}")
        if hook.backoff_max < hook.backoff_initial:
            raise ConfigError(
                f"{prefix}.backoff_max", hook.backoff_max, "must not be below backoff_initial"
            )
        if any(other.name == hook.name for other in out):
            raise ConfigError(f"{prefix}.name", hook.name, "is used by another webhook")
        out.append(hook)
    return tuple(out)
