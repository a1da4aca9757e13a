"""The ``[mqtt]`` section and the pure layout helpers (no broker)."""

from __future__ import annotations

import tomllib
from typing import Any

import orjson
import pytest

from pipeline import config as cfg
from sinks.mqtt_layout import PER_METRIC, Layout, per_plugin_payload, sanitise, uptime_seconds


def test_mqtt_defaults() -> None:
    mqtt = cfg.Config().mqtt
    assert (mqtt.enabled, mqtt.host, mqtt.port, mqtt.topic) == (False, "localhost", 1883, "glances")
    assert (mqtt.topic_structure, mqtt.qos, mqtt.retain, mqtt.queue_size) == (
        "per-plugin",
        1,
        False,
        1000,
    )
    # the reference's exported set, without the process lists
    assert set(mqtt.plugins).isdisjoint(
        {"alert", "quicklook", "version", "psutilversion", "processlist", "programlist"}
    )
    assert {"cpu", "mem", "load", "fs", "network", "uptime", "sensors"} <= set(mqtt.plugins)


def test_mqtt_section_round_trips_with_the_password_redacted() -> None:
    config = cfg.from_mapping(
        {"mqtt": {"enabled": True, "password": "s3cret", "plugins": ["cpu"], "exclude": ["mem"]}}
    )
    assert config.mqtt.plugins == ("cpu",) and config.mqtt.exclude == ("mem",)
    assert config.as_dict()["mqtt"]["password"] == cfg.REDACTED
    again = cfg.from_mapping(tomllib.loads(cfg.to_toml(config, redact=False)))
    assert again.mqtt == config.mqtt


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"topic": "a/+/b"}, "mqtt.topic = 'a/+/b': must not contain the MQTT wildcards"),
        ({"devicename": "h#"}, "mqtt.devicename = 'h#': must not contain"),
        ({"topic": ""}, "mqtt.topic = '': must not be empty"),
        ({"topic": "a\x00"}, "no NUL"),
        ({"plugins": ["cpu", "gpu"]}, "mqtt.plugins = 'gpu': unknown plugin"),
        ({"exclude": ["nope"]}, "mqtt.exclude = 'nope': unknown plugin"),
        ({"qos": 3}, "mqtt.qos = 3: must be between 0 and 2"),
        ({"topic_structure": "flat"}, "must be one of per-plugin, per-metric"),
        ({"keepalive": 1}, "mqtt.keepalive = 1: must be between 5 and 3600"),
        ({"queue_size": 0}, "mqtt.queue_size = 0: must be between 1"),
        ({"port": 0}, "mqtt.port = 0: must be between 1 and 65535"),
        ({"enabled": True, "host": ""}, "mqtt.host = '': must name the broker"),
        ({"tls": "yes"}, "mqtt.tls = 'yes': must be true or false"),
        ({"tls": True, "keyfile": "k.pem"}, "mqtt.keyfile = 'k.pem': needs mqtt.certfile"),
        ({"ca_file": "ca.pem"}, "mqtt.ca_file = 'ca.pem': is used only with mqtt.tls = true"),
        ({"bogus": 1}, "mqtt.bogus = 1: unknown key"),
    ],
)
def test_bad_mqtt_keys(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(cfg.ConfigError) as err:
        cfg.from_mapping({"mqtt": raw})
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0:00:05", 5), ("10:25:20", 37520), ("1 day, 0:00:01", 86401), ("3 days, 1:02:03", 262923)],
)
def test_uptime_seconds(text: str, seconds: int) -> None:
    assert uptime_seconds(text) == seconds


def test_sanitise_and_per_plugin_nesting() -> None:
    assert sanitise("/mnt/my disk") == "_mnt_my_disk"
    assert sanitise("Core-0_a") == "Core-0_a"
    data = [{"key": "interface_name", "interface_name": "eth0.100", "Speed": 1, "up": True}]
    # the key value's "." nests, as in the reference; field names are lower-cased
    assert orjson.loads(per_plugin_payload(data)) == {
        "eth0": {
            "100": {"interface_name": "eth0.100", "key": "interface_name", "speed": 1, "up": True}
        }
    }
    assert per_plugin_payload([]) == b"{}"


def test_value_plugins_and_uptime_per_metric() -> None:
    layout = Layout("glances", "h", PER_METRIC, ["uptime", "version"])
    assert layout.messages("uptime", "1:00:00") == [("glances/h/uptime/seconds", b"3600")]
    assert layout.messages("version", "0.1.0") == [("glances/h/version", b"0.1.0")]
    assert not layout.exported("alert") and not layout.exported("cpu")
