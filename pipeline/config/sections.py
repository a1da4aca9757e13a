"""The fixed sections (``[global]``, ``[api]``, ``[alert]``, ``[mqtt]`` and
``[mqtt.homeassistant]``): every key's check, and how a section is merged onto its
defaults."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from pipeline.checks import REDACTED, Check, ConfigError, choice_list
from pipeline.checks import boolean as _boolean
from pipeline.checks import number as _number
from pipeline.checks import string as _string
from pipeline.checks import string_list as _string_list
from pipeline.config import passwords
from pipeline.config.model import SECRET_KEYS
from pipeline.plugins import PLUGINS


def _url_prefix(key: str, value: Any) -> Any:
    written = _string(max_len=200)(key, value)
    value = written.rstrip("/")
    if not _URL_PREFIX.fullmatch(value):
        raise ConfigError(
            key, written, "must be empty or a path like /glances (letters, digits, . _ ~ -)"
        )
    return value


_URL_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*")


def _api_password(key: str, value: Any) -> Any:
    """A plain password or a well-formed hash (the value is never quoted back)."""
    value = _string(max_len=1024)(key, value)
    try:
        passwords.parse(value)
    except passwords.MalformedHash as exc:
        raise ConfigError(key, REDACTED, f"not a valid password hash: {exc}") from None
    return value


def _log_level(key: str, value: Any) -> Any:
    # in any case, as --log-level takes it
    value = value.upper() if isinstance(value, str) else value
    return _string(choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))(key, value)


SCHEMA: dict[str, dict[str, Check]] = {
    "global": {
        "refresh": _number(0.1, 86400),
        "sampler_timeout": _number(0.1, 3600),
        "retry_initial": _number(0.01, 3600),
        "retry_max": _number(0.01, 86400),
        "strftime_format": _string(max_len=200),
        "log_level": _log_level,
    },
    "api": {
        "enabled": _boolean,
        "bind": _string(max_len=255),
        "port": _number(0, 65535, integer=True),
        "url_prefix": _url_prefix,
        "username": _string(max_len=255),
        "password": _api_password,
        "cors_origins": _string_list,
        "gzip_min_size": _number(0, 2**31, integer=True),
        "certfile": _string(max_len=4096),
        "keyfile": _string(max_len=4096),
        "max_login_failures": _number(1, 1_000_000, integer=True),
        "login_backoff_max": _number(1, 86400),
    },
}
SCHEMA["global"].update(
    {
        "history_size": _number(0, 1_000_000, integer=True),
        "history_persist": _boolean,
        "history_write_interval": _number(0.1, 3600),
        "data_dir": _string(max_len=4096),
    }
)
SCHEMA["alert"] = {
    "disable": _boolean,
    "max_events": _number(1, 10_000, integer=True),
    "min_duration": _number(0, 86400),
    "min_interval": _number(0, 86400),
}


def _mqtt_topic_part(*, empty: bool) -> Check:
    """A topic prefix or device name: no wildcards (``+``, ``#``) and no NUL."""

    def check(key: str, value: Any) -> Any:
        value = _string(max_len=1024)(key, value)
        if not empty and not value:
            raise ConfigError(key, value, "must not be empty")
        if "+" in value or "#" in value:
            raise ConfigError(key, value, "must not contain the MQTT wildcards + or #")
        return value

    return check


_plugin_list = choice_list(tuple(PLUGINS), f"unknown plugin (known: {', '.join(PLUGINS)})")


def _subtable(key: str, value: Any) -> Any:
    """Marks a key that is a table of its own, merged with ``SCHEMA[key]``."""
    raise AssertionError(f"{key} is merged by _merge_section")


def _mqtt_qos(key: str, value: Any) -> Any:
    return _number(0, 2, integer=True)(key, value)


SCHEMA["mqtt"] = {
    "enabled": _boolean,
    "host": _string(max_len=255),
    "port": _number(1, 65535, integer=True),
    "username": _string(max_len=1024),
    "password": _string(max_len=1024),
    "client_id": _string(max_len=256),
    "keepalive": _number(5, 3600, integer=True),
    "tls": _boolean,
    "ca_file": _string(max_len=4096),
    "certfile": _string(max_len=4096),
    "keyfile": _string(max_len=4096),
    "tls_insecure": _boolean,
    "topic": _mqtt_topic_part(empty=False),
    "devicename": _mqtt_topic_part(empty=True),
    "topic_structure": _string(choices=("per-plugin", "per-metric")),
    "qos": _mqtt_qos,
    "retain": _boolean,
    "plugins": _plugin_list,
    "exclude": _plugin_list,
    "queue_size": _number(1, 1_000_000, integer=True),
    "homeassistant": _subtable,
}
SCHEMA["mqtt.homeassistant"] = {
    "enabled": _boolean,
    "prefix": _mqtt_topic_part(empty=False),
    "status_topic": _mqtt_topic_part(empty=True),
}


def merge_section(key_prefix: str, schema: Mapping[str, Check], base: Any, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(key_prefix, raw, "must be a table")
    changes = {}
    for key, value in raw.items():
        full = f"{key_prefix}.{key}"
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(full, value, f"unknown key (known keys: {known})")
        if schema[key] is _subtable:
            changes[key] = merge_section(full, SCHEMA[full], getattr(base, key), value)
            continue
        try:
            changes[key] = schema[key](full, value)
        except ConfigError as exc:
            if key in SECRET_KEYS and exc.value != REDACTED:  # never quote a secret back
                raise ConfigError(exc.key, REDACTED, exc.reason) from None
            raise
    return dataclasses.replace(base, **changes)
