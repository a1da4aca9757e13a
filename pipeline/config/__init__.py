"""Configuration: built-in defaults < TOML file (``--config``) < command-line flags.

The file is parsed once into frozen dataclasses that are passed down; nothing reads the
configuration from a global.  Any unknown key, wrong type or out-of-range value raises
:class:`ConfigError`, whose text is one line naming the key, the value and the reason.

One module per job: the shape and defaults (:mod:`~pipeline.config.model`), the fixed
sections' checks (:mod:`~pipeline.config.sections`), the plugins' sections
(:mod:`~pipeline.config.plugin_sections`), ``[[webhooks]]``
(:mod:`~pipeline.config.webhooks`), certificate files (:mod:`~pipeline.config.tls`),
reading (:mod:`~pipeline.config.loading`), writing (:mod:`~pipeline.config.toml`), and
password hashes (:mod:`~pipeline.config.passwords`).  The value checks themselves are
:mod:`pipeline.checks`, which the plugins' descriptors use too.
"""

from __future__ import annotations

from pipeline.checks import REDACTED, ConfigError
from pipeline.config import passwords
from pipeline.config.loading import MAX_CONFIG_BYTES, data_dir, from_mapping, load
from pipeline.config.model import (
    MQTT_NOT_EXPORTED,
    SECRET_KEYS,
    WEBHOOK_FORMATS,
    AlertConfig,
    ApiConfig,
    Config,
    GlobalConfig,
    HomeAssistantConfig,
    MqttConfig,
    PluginConfig,
    WebhookConfig,
    default_plugin_config,
)
from pipeline.config.plugin_sections import LOG_KEY, PLUGIN_SCHEMA, THRESHOLD_KEY
from pipeline.config.sections import SCHEMA
from pipeline.config.toml import to_toml, toml_value
from pipeline.config.webhooks import WEBHOOK_SCHEMA

__all__ = [
    "LOG_KEY",
    "MAX_CONFIG_BYTES",
    "MQTT_NOT_EXPORTED",
    "PLUGIN_SCHEMA",
    "REDACTED",
    "SCHEMA",
    "SECRET_KEYS",
    "THRESHOLD_KEY",
    "WEBHOOK_FORMATS",
    "WEBHOOK_SCHEMA",
    "AlertConfig",
    "ApiConfig",
    "Config",
    "ConfigError",
    "GlobalConfig",
    "HomeAssistantConfig",
    "MqttConfig",
    "PluginConfig",
    "WebhookConfig",
    "data_dir",
    "default_plugin_config",
    "from_mapping",
    "load",
    "passwords",
    "to_toml",
    "toml_value",
]
