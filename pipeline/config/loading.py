"""Reading a configuration: built-in defaults < TOML file (``--config``) < overrides
(the command line's flags); and where statbus keeps its state."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.checks import ConfigError
from pipeline.config.model import Config
from pipeline.config.plugin_sections import merge_plugin
from pipeline.config.sections import SCHEMA, merge_section
from pipeline.config.tls import check_api_tls, check_mqtt_tls
from pipeline.config.webhooks import parse_webhooks
from pipeline.plugins import SAMPLED


def from_mapping(raw: Mapping[str, Any], base: Config | None = None) -> Config:
    """Overlay a parsed TOML document on ``base`` (built-in defaults if ``None``)."""
    config = base or Config()
    global_, api, alert, mqtt = config.global_, config.api, config.alert, config.mqtt
    plugins = dict(config.plugins)
    webhooks = config.webhooks
    for section, body in raw.items():
        if section == "webhooks":  # [[webhooks]]: replaces the whole list
            webhooks = parse_webhooks(body)
        elif section == "global":
            global_ = merge_section("global", SCHEMA["global"], global_, body)
        elif section == "api":
            api = merge_section("api", SCHEMA["api"], api, body)
        elif section == "alert":
            alert = merge_section("alert", SCHEMA["alert"], alert, body)
        elif section == "mqtt":
            mqtt = merge_section("mqtt", SCHEMA["mqtt"], mqtt, body)
        elif section in SAMPLED:
            plugins[section] = merge_plugin(section, plugins[section], body)
        else:
            known = ", ".join(["global", "api", "alert", "mqtt", "webhooks", *sorted(SAMPLED)])
            raise ConfigError(section, body, f"unknown section (known sections: {known})")
    if global_.retry_max < global_.retry_initial:
        raise ConfigError(
            "global.retry_max", global_.retry_max, "must not be below global.retry_initial"
        )
    if mqtt.enabled and not mqtt.host:
        raise ConfigError("mqtt.host", mqtt.host, "must name the broker when mqtt.enabled")
    check_mqtt_tls(mqtt)
    check_api_tls(api)
    return dataclasses.replace(
        config,
        global_=global_,
        api=api,
        alert=alert,
        mqtt=mqtt,
        plugins=plugins,
        webhooks=webhooks,
    )


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
