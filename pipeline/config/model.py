"""The configuration's shape: one frozen dataclass per section, with the built-in
defaults (the reference's where it has them), and how a configuration is shown
(``Config.as_dict``: secrets redacted)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.checks import REDACTED, url_without_secrets
from pipeline.plugins import PLUGINS, SAMPLED, option_defaults

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
    #: a plain password, or a hash from ``statbus hash-password`` (pipeline/config/passwords.py);
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
