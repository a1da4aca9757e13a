"""Configuration: built-in defaults < TOML file (``--config``) < command-line flags.

The file is parsed once into frozen dataclasses that are passed down; nothing reads the
configuration from a global.  Any unknown key, wrong type or out-of-range value raises
:class:`ConfigError`, whose text is one line naming the key, the value and the reason.
"""

from __future__ import annotations

import dataclasses
import os
import re
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import passwords
from pipeline.checks import REDACTED as REDACTED  # re-exported
from pipeline.checks import Check, choice_list, http_url, url_without_secrets
from pipeline.checks import ConfigError as ConfigError  # re-exported: callers catch it here
from pipeline.checks import boolean as _boolean
from pipeline.checks import number as _number
from pipeline.checks import regex_list as _regex_list
from pipeline.checks import string as _string
from pipeline.checks import string_list as _string_list
from pipeline.plugins import PLUGINS, SAMPLED, option_defaults, option_schema

#: keys whose values are never shown: not in /config, check-config, nor an error message
SECRET_KEYS = frozenset({"password", "secret"})


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    refresh: float = 2.0
    sampler_timeout: float = 10.0
    retry_initial: float = 1.0
    retry_max: float = 60.0
    strftime_format: str = "%Y-%m-%d %H:%M:%S %Z"
    log_level: str = "INFO"
    #: points kept per history series; 0 turns history off
    history_size: int = 1200
    #: keep history on disk (in data_dir) so that it survives a restart
    history_persist: bool = True
    #: seconds between two writes of the new history points to disk (one transaction)
    history_write_interval: float = 1.0
    #: where statbus keeps state (events, history); "" means the default per-user state
    #: directory (see :func:`data_dir`)
    data_dir: str = ""


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """``[alert]``: the events list (the reference's defaults)."""

    disable: bool = False
    max_events: int = 10
    min_duration: float = 6.0
    min_interval: float = 6.0


@dataclass(frozen=True, slots=True)
class ApiConfig:
    enabled: bool = True
    bind: str = "127.0.0.1"
    port: int = 61208
    url_prefix: str = ""
    username: str = "glances"
    #: a plain password, or a hash from ``statbus hash-password`` (pipeline/passwords.py);
    #: secrets stay out of repr() too, so a logged config shows none
    password: str = field(default="", repr=False)
    cors_origins: tuple[str, ...] = ("*",)
    gzip_min_size: int = 1000
    #: HTTPS: the server certificate (PEM, with its chain) and its unencrypted key
    #: ("" : in certfile); both "" serve plain HTTP
    certfile: str = ""
    keyfile: str = ""
    #: failed logins from one address before its back-off starts (api/http_auth.py)
    max_login_failures: int = 5
    #: the longest wait (seconds) the back-off imposes on one address
    login_backoff_max: float = 60.0

    @property
    def tls(self) -> bool:
        return bool(self.certfile)


#: plugins the reference never exports (glances-behaviour.md §5), and the process lists,
#: which it exports only for processes named in ``[processlist] export=`` (default none)
MQTT_NOT_EXPORTED = frozenset(
    {"alert", "help", "psutilversion", "quicklook", "version", "processlist", "programlist"}
)


@dataclass(frozen=True, slots=True)
class HomeAssistantConfig:
    """``[mqtt.homeassistant]``: Home Assistant MQTT discovery (``docs/mqtt.md``)."""

    enabled: bool = True
    prefix: str = "homeassistant"
    #: Home Assistant's birth topic; "" means ``<prefix>/status``
    status_topic: str = ""


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """``[mqtt]``: the MQTT sink (``docs/mqtt.md``)."""

    enabled: bool = False
    host: str = "localhost"
    port: int = 1883
    username: str = ""
    password: str = field(default="", repr=False)
    #: "" means ``statbus-<hostname>``
    client_id: str = ""
    keepalive: int = 60
    #: TLS to the broker; ``ca_file`` "" means the system's CAs; ``certfile`` and
    #: ``keyfile`` (both, or certfile alone holding the key too) a client certificate;
    #: ``tls_insecure`` skips the host name check (the chain is still verified)
    tls: bool = False
    ca_file: str = ""
    certfile: str = ""
    keyfile: str = ""
    tls_insecure: bool = False
    topic: str = "glances"
    #: "" means the host name
    devicename: str = ""
    topic_structure: str = "per-plugin"
    qos: int = 1
    retain: bool = False
    plugins: tuple[str, ...] = tuple(p for p in PLUGINS if p not in MQTT_NOT_EXPORTED)
    exclude: tuple[str, ...] = ()
    queue_size: int = 1000
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)


@dataclass(frozen=True, slots=True)
class PluginConfig:
    disable: bool = False
    refresh: float | None = None
    timeout: float | None = None
    #: points a value must fall below a threshold before it leaves that level (0: none)
    hysteresis: float = 0.0
    #: regexes (full match, case-insensitive) of items to hide / to show despite hide
    hide: tuple[str, ...] = ()
    show: tuple[str, ...] = ()
    #: threshold keys as written: ``careful``, ``total_warning``, ``/_critical``, ...
    limits: Mapping[str, float] = field(default_factory=dict)
    #: ``*_log`` switches as written: ``log``, ``total_log``, ``eth0_rx_log``, ...
    logs: Mapping[str, bool] = field(default_factory=dict)
    #: item name -> alias (``alias = "sda:System,sdb:Data"``)
    alias: Mapping[str, str] = field(default_factory=dict)
    #: the plugin's own keys (its descriptor's ``options``), every one present
    options: Mapping[str, Any] = field(default_factory=dict)


def default_plugin_config(name: str) -> PluginConfig:
    """A plugin's built-in section: off for those the reference ships disabled."""
    return PluginConfig(disable=PLUGINS[name].default_disable, options=option_defaults(name))


WEBHOOK_FORMATS = ("statbus", "alertmanager")


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """One ``[[webhooks]]`` entry: a receiver of alert transitions (``docs/webhooks.md``)."""

    url: str = field(repr=False)  # paths and queries often carry tokens
    #: counters, logs and the Alertmanager ``receiver``; "" means ``webhook<N>``
    name: str = ""
    format: str = "statbus"
    #: HMAC-SHA256 key of the ``X-Statbus-Signature`` header; "" sends no signature
    secret: str = field(default="", repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 5.0
    min_state: str = "WARNING"
    send_resolved: bool = True
    #: re-notify an ongoing event this often (seconds); 0 is off
    repeat_interval: float = 0.0
    max_attempts: int = 10
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    queue_size: int = 100


@dataclass(frozen=True, slots=True)
class Config:
    global_: GlobalConfig = field(default_factory=GlobalConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    alert: AlertConfig = field(default_factory=AlertConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    plugins: Mapping[str, PluginConfig] = field(
        default_factory=lambda: {name: default_plugin_config(name) for name in SAMPLED}
    )
    webhooks: tuple[WebhookConfig, ...] = ()
    source: str | None = None

    def refresh_of(self, plugin: str) -> float:
        """The plugin's refresh: its own key, else the reference default, else global."""
        own = self.plugins[plugin].refresh
        if own is not None:
            return own
        default = PLUGINS[plugin].refresh
        return default if default is not None else self.global_.refresh

    def timeout_of(self, plugin: str) -> float:
        own = self.plugins[plugin].timeout
        return own if own is not None else self.global_.sampler_timeout

    def enabled_plugins(self) -> list[str]:
        def disabled(name: str) -> bool:
            if name == "alert":
                return self.alert.disable
            return name in self.plugins and self.plugins[name].disable

        return [name for name in PLUGINS if not disabled(name)]

    def as_dict(self, *, redact: bool = True) -> dict[str, dict[str, Any]]:
        """``{section: {key: value}}`` as in the TOML file, with the effective values
        (a plugin's refresh and timeout resolved); secrets redacted."""
        out: dict[str, dict[str, Any]] = {
            "global": _section_dict(self.global_, redact),
            "api": _section_dict(self.api, redact),
            "alert": _section_dict(self.alert, redact),
            "mqtt": _section_dict(self.mqtt, redact),
        }
        for name, plugin in self.plugins.items():
            out[name] = {
                "disable": plugin.disable,
                "refresh": self.refresh_of(name),
                "timeout": self.timeout_of(name),
                "hysteresis": plugin.hysteresis,
                "hide": list(plugin.hide),
                "show": list(plugin.show),
                **{k: _shown_option(v, redact) for k, v in plugin.options.items()},
                **plugin.limits,
                **plugin.logs,
            }
            if plugin.alias:
                out[name]["alias"] = dict(plugin.alias)
        return out


def _plain(value: Any) -> Any:
    """An option's value as TOML data: tuples as lists, entries as dicts."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _shown_option(value: Any, redact: bool) -> Any:
    """A plugin option as shown: a URL's user info and query (credentials, tokens)
    replaced by ``********`` when ``redact``."""
    value = _plain(value)
    if redact and isinstance(value, str) and value.startswith(("http://", "https://")):
        value = url_without_secrets(value)
    return value


def _section_dict(obj: Any, redact: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif dataclasses.is_dataclass(value):  # a sub-table: [mqtt.homeassistant]
            value = _section_dict(value, redact)
        if redact and f.name in SECRET_KEYS and value:
            value = REDACTED
        out[f.name] = value
    return out


# --- validation ------------------------------------------------------------------------


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


def _check_api_tls(api: ApiConfig) -> None:
    """``api.certfile``/``api.keyfile``: when the API serves HTTPS, the certificate and
    key must load, so a bad file stops start-up with a one-line error naming the key."""
    if api.keyfile and not api.certfile:
        raise ConfigError("api.keyfile", api.keyfile, "needs api.certfile (the certificate)")
    if not api.certfile or not api.enabled:
        return
    for key in ("certfile", "keyfile"):
        path = getattr(api, key)
        try:
            if path:
                with open(path, "rb") as f:
                    head = f.read(1 << 20)
        except OSError as exc:
            raise ConfigError(
                f"api.{key}", path, f"cannot read the file: {exc.strerror or exc}"
            ) from None
        if key == "certfile" and b"-----BEGIN CERTIFICATE-----" not in head:
            raise ConfigError("api.certfile", path, "not a PEM certificate file")
    _load_cert_chain(
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), "api", api.certfile, api.keyfile, "certificate"
    )


def _load_cert_chain(
    context: ssl.SSLContext, section: str, certfile: str, keyfile: str, what: str
) -> None:
    """Load ``certfile`` and its key into ``context``, or a ConfigError naming the key
    (``keyfile`` when there is one, else ``certfile``, which then holds the key)."""
    try:  # an encrypted key is refused, not prompted for
        context.load_cert_chain(certfile, keyfile or None, password=lambda: b"")
    except (ssl.SSLError, ValueError) as exc:
        key, path = ("keyfile", keyfile) if keyfile else ("certfile", certfile)
        raise ConfigError(
            f"{section}.{key}",
            path,
            f"cannot load the {what} and its (unencrypted) key as PEM: {exc}",
        ) from None


def _log_level(key: str, value: Any) -> Any:
    # in any case, as --log-level takes it
    value = value.upper() if isinstance(value, str) else value
    return _string(choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))(key, value)


_SCHEMA: dict[str, dict[str, Check]] = {
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
_SCHEMA["global"].update(
    {
        "history_size": _number(0, 1_000_000, integer=True),
        "history_persist": _boolean,
        "history_write_interval": _number(0.1, 3600),
        "data_dir": _string(max_len=4096),
    }
)
_SCHEMA["alert"] = {
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
    """Marks a key that is a table of its own, merged with ``_SCHEMA[key]``."""
    raise AssertionError(f"{key} is merged by _merge_section")


def _mqtt_qos(key: str, value: Any) -> Any:
    return _number(0, 2, integer=True)(key, value)


def _check_mqtt_tls(mqtt: MqttConfig) -> None:
    """The TLS keys together; when the sink will use TLS, the files named must load
    (so that a missing or unreadable one is a start-up error, not a retry loop)."""
    files = {"ca_file": mqtt.ca_file, "certfile": mqtt.certfile, "keyfile": mqtt.keyfile}
    if mqtt.keyfile and not mqtt.certfile:
        raise ConfigError(
            "mqtt.keyfile", mqtt.keyfile, "needs mqtt.certfile (the client certificate)"
        )
    if not mqtt.tls:
        for key, value in [*files.items(), ("tls_insecure", mqtt.tls_insecure)]:
            if value:
                raise ConfigError(f"mqtt.{key}", value, "is used only with mqtt.tls = true")
        return
    if not mqtt.enabled:
        return
    for key, path in files.items():
        try:
            if path:
                with open(path, "rb"):
                    pass
        except OSError as exc:
            raise ConfigError(
                f"mqtt.{key}", path, f"cannot read the file: {exc.strerror or exc}"
            ) from None
    try:
        context = ssl.create_default_context(cafile=mqtt.ca_file or None)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(
            "mqtt.ca_file", mqtt.ca_file, f"not a PEM CA certificate file: {exc}"
        ) from None
    if mqtt.certfile:
        _load_cert_chain(context, "mqtt", mqtt.certfile, mqtt.keyfile, "client certificate")


_SCHEMA["mqtt"] = {
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
_SCHEMA["mqtt.homeassistant"] = {
    "enabled": _boolean,
    "prefix": _mqtt_topic_part(empty=False),
    "status_topic": _mqtt_topic_part(empty=True),
}


_PLUGIN_SCHEMA: dict[str, Check] = {
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


def _merge_plugin(name: str, base: PluginConfig, raw: Any) -> PluginConfig:
    """A plugin section: fixed keys, the plugin's own keys, and threshold and ``*_log``
    keys of any stat."""
    if not isinstance(raw, dict):
        raise ConfigError(name, raw, "must be a table")
    fixed = {k: v for k, v in raw.items() if k in _PLUGIN_SCHEMA}
    limits, logs = dict(base.limits), dict(base.logs)
    own = option_schema(name)
    options, alias = dict(base.options), base.alias
    for key, value in raw.items():
        full = f"{name}.{key}"
        if key in _PLUGIN_SCHEMA:
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
            known = ", ".join(sorted({*_PLUGIN_SCHEMA, *own}))
            raise ConfigError(
                full,
                value,
                f"unknown key (known keys: {known}, and <stat>_careful/_warning/_critical"
                " thresholds and <stat>_log switches)",
            )
    merged: PluginConfig = _merge_section(name, _PLUGIN_SCHEMA, base, fixed)
    return dataclasses.replace(merged, limits=limits, logs=logs, options=options, alias=alias)


def _merge_section(key_prefix: str, schema: Mapping[str, Check], base: Any, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(key_prefix, raw, "must be a table")
    changes = {}
    for key, value in raw.items():
        full = f"{key_prefix}.{key}"
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(full, value, f"unknown key (known keys: {known})")
        if schema[key] is _subtable:
            changes[key] = _merge_section(full, _SCHEMA[full], getattr(base, key), value)
            continue
        try:
            changes[key] = schema[key](full, value)
        except ConfigError as exc:
            if key in SECRET_KEYS and exc.value != REDACTED:  # never quote a secret back
                raise ConfigError(exc.key, REDACTED, exc.reason) from None
            raise
    return dataclasses.replace(base, **changes)


def from_mapping(raw: Mapping[str, Any], base: Config | None = None) -> Config:
    """Overlay a parsed TOML document on ``base`` (built-in defaults if ``None``)."""
    config = base or Config()
    global_, api, alert, mqtt = config.global_, config.api, config.alert, config.mqtt
    plugins = dict(config.plugins)
    webhooks = config.webhooks
    for section, body in raw.items():
        if section == "webhooks":  # [[webhooks]]: replaces the whole list
            webhooks = _webhooks(body)
        elif section == "global":
            global_ = _merge_section("global", _SCHEMA["global"], global_, body)
        elif section == "api":
            api = _merge_section("api", _SCHEMA["api"], api, body)
        elif section == "alert":
            alert = _merge_section("alert", _SCHEMA["alert"], alert, body)
        elif section == "mqtt":
            mqtt = _merge_section("mqtt", _SCHEMA["mqtt"], mqtt, body)
        elif section in SAMPLED:
            plugins[section] = _merge_plugin(section, plugins[section], body)
        else:
            known = ", ".join(["global", "api", "alert", "mqtt", "webhooks", *sorted(SAMPLED)])
            raise ConfigError(section, body, f"unknown section (known sections: {known})")
    if global_.retry_max < global_.retry_initial:
        raise ConfigError(
            "global.retry_max", global_.retry_max, "must not be below global.retry_initial"
        )
    if mqtt.enabled and not mqtt.host:
        raise ConfigError("mqtt.host", mqtt.host, "must name the broker when mqtt.enabled")
    _check_mqtt_tls(mqtt)
    _check_api_tls(api)
    return dataclasses.replace(
        config,
        global_=global_,
        api=api,
        alert=alert,
        mqtt=mqtt,
        plugins=plugins,
        webhooks=webhooks,
    )


# --- [[webhooks]] ---------------------------------------------------------------------

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


_WEBHOOK_SCHEMA: dict[str, Check] = {
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


def _webhooks(raw: Any) -> tuple[WebhookConfig, ...]:
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
        hook: WebhookConfig = _merge_section(prefix, _WEBHOOK_SCHEMA, WebhookConfig(url=""), entry)
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


#: a configuration file larger than this is refused (1 MiB)
MAX_CONFIG_BYTES = 1 << 20


def load(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults, then the file at ``path`` (if any), then ``overrides`` (``{"api.port": 1}``)."""
    config = Config()
    if path is not None:
        p = Path(path)
        try:
            with p.open("rb") as file:  # bounded: --config /dev/zero must not fill memory
                data = file.read(MAX_CONFIG_BYTES + 1)
            # newlines as read_text gives them
            text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("--config", str(p), f"cannot read the file: {exc}") from exc
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(
                "--config", str(p), f"larger than {MAX_CONFIG_BYTES} bytes: not a configuration"
            )
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", str(p), f"invalid TOML: {exc}") from exc
        except RecursionError:  # tomllib recurses once per level of nesting
            raise ConfigError(
                "--config", str(p), "invalid TOML: arrays or tables nested too deeply"
            ) from None
        config = dataclasses.replace(from_mapping(raw, config), source=str(p))
    if overrides:
        nested: dict[str, dict[str, Any]] = {}
        for dotted, value in overrides.items():
            section, _, key = dotted.partition(".")
            nested.setdefault(section, {})[key] = value
        config = from_mapping(nested, config)
    return config


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


def data_dir(config: Config) -> Path:
    """Where statbus keeps its state: ``global.data_dir``, else ``$STATE_DIRECTORY``
    (systemd's ``StateDirectory=``), else ``$XDG_STATE_HOME/statbus``, else
    ``~/.local/state/statbus``."""
    if config.global_.data_dir:
        return Path(config.global_.data_dir).expanduser()
    systemd = os.environ.get("STATE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "statbus"
