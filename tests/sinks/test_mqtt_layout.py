"""The ``[mqtt]`` section and the pure layout helpers (no broker)."""

from __future__ import annotations

import tomllib
from typing import Any

import orjson
import pytest

from pipeline import config as cfg
from sinks.mqtt_layout import (
    PER_METRIC,
    Layout,
    columns,
    per_plugin_payload,
    sanitise,
    uptime_seconds,
)


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
        ({"plugins": ["cpu", "tpu"]}, "mqtt.plugins = 'tpu': unknown plugin"),
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


def _nested_from_columns(data: Any) -> bytes:
    """per_plugin_payload as first written: every column split on "." and nested."""
    nested: dict[str, Any] = {}
    for column, value in columns(data):
        *parents, leaf = column.split(".")
        level = nested
        for part in parents:
            child = level.get(part)
            if not isinstance(child, dict):
                child = level[part] = {}
            level = child
        if not isinstance(level.get(leaf), dict):
            level[leaf] = value
    return orjson.dumps(nested, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS)


ODD_SAMPLES: list[Any] = [
    {"total": 1.5, "Total": 2, "cpu.x": 3, "cpu": 4, "list": [1, True, None, "a"], "t": (1, 2)},
    {"a": 1, "a.b": 2, "a.b.c": 3, "x.y": 1, "x": 2},
    {"memory_info": {"rss": 1, "VMS": 2, "in.ner": 3}, "m": {"key": "k", "k": "v.w", "z": 1}},
    {1: "int key", False: "bool key", None: "none key", 2.5: "float key", "FALSE": 0},
    [
        {"key": "name", "name": "eth0", "rx": 1, "Rx": 2},
        {"key": "name", "name": "eth0.100", "rx": 3, "nested": {"a": {"b": 1}}},
        {"key": "name", "name": "eth0", "rx": 5},  # the same key value again
        {"key": "missing", "rx": 6},  # its key field absent: no prefix
        {"key": 3, "rx": 7},  # a key that is not a field name
        {"key": "name", "name": 42, "v": [1.5, False]},
        {"key": "name", "name": None, "v": 1},
        {"key": "name", "name": "a.b", "c": 1},
        {"key": "name", "name": "a", "b": 2},  # a value and a parent at once
        [{"key": "name", "name": "inner", "v": 1}, "scalar", 3],
        "a bare string",
        {"eth0": "collides with a prefix"},
        {"key": "name", "name": "", "v": 1},
        {"key": "name", "name": "x..y", "v": 1},
    ],
    [{"rx": 1}, {"key": "rx", "rx": "rx", "tx": 2}],
    # plain samples (nested without _nest) and the near misses that must not be
    {"user": 1.5, "system": 2, "log": None, "ok": True, "name": "a.b"},
    {"user": 1.5, "System": 2},
    {"user": 1.5, "sys.tem": 2},
    {"user": 1.5, "list": []},
    {"user": 1.5, "tuple": (1,)},
    [
        {"key": "disk_name", "disk_name": "sda", "read_bytes": 1, "flag": False},
        {"key": "disk_name", "disk_name": "sdb", "read_bytes": 2},
        {"key": "disk_name", "disk_name": 7, "read_bytes": 3},
    ],
    [{"key": "name", "name": "eth0", "rx": 1}, {"key": "name", "name": "eth0", "tx": 2}],
    [{"key": "name", "name": "eth0", "rx": 1}, {"key": "name", "name": "eth0.100", "rx": 2}],
    [{"key": "name", "name": "eth0", "rx": 1}, {"key": "other", "name": "eth1", "rx": 2}],
    [{"key": "name", "name": "eth0", "rx": 1}, {"name": "eth1", "rx": 2}],
    [{"key": "name", "name": "eth0", "Rx": 1}],
    [{"key": "name", "name": "eth0", "rx": [1, 2]}],
    [{"key": "name", "name": "eth0", "rx": 1}, "scalar"],
    [{"key": 1, 1: "eth0", "rx": 1}],
]


@pytest.mark.parametrize("data", ODD_SAMPLES)
def test_per_plugin_payload_nests_every_column_as_splitting_it_would(data: Any) -> None:
    assert per_plugin_payload(data) == _nested_from_columns(data)
    assert per_plugin_payload(data) == per_plugin_payload(data)  # the name cache


def test_per_plugin_payload_of_real_samples_nests_every_column() -> None:
    from tests.sinks.test_mqtt import real_samples

    samples = real_samples({"cpu", "percpu", "network", "diskio", "fs", "mem", "sensors"})
    for plugin, data in samples.items():
        assert per_plugin_payload(data) == _nested_from_columns(data), plugin


def test_value_plugins_and_uptime_per_metric() -> None:
    layout = Layout("glances", "h", PER_METRIC, ["uptime", "version"])
    assert layout.messages("uptime", "1:00:00") == [("glances/h/uptime/seconds", b"3600")]
    assert layout.messages("version", "0.1.0") == [("glances/h/version", b"0.1.0")]
    assert not layout.exported("alert") and not layout.exported("cpu")


def test_keep_alive_ticker_runs_every_quarter_keep_alive_within_bounds() -> None:
    from sinks.mqtt_client import misc_interval

    assert misc_interval(60) == 5.0  # the default keep-alive: a ping within 75 s
    assert misc_interval(8) == 2.0
    assert misc_interval(5) == 1.25
    assert misc_interval(3600) == 5.0


def test_containers_are_exported_without_their_nested_dicts() -> None:
    """As the reference's export_exclude_list: the flat fields carry the same numbers."""
    entry = {
        "key": "name", "name": "web", "cpu": {"total": 1.5}, "cpu_percent": 1.5,
        "memory": {"usage": 10}, "memory_usage": 10, "io": {"cumulative_ior": 1},
        "network": {"cumulative_rx": 2}, "status": "running",
    }  # fmt: skip
    layout = Layout("glances", "h", PER_METRIC, ["containers"])
    topics = dict(layout.messages("containers", [entry]))
    assert topics["glances/h/containers/web/cpu_percent"] == b"1.5"
    assert not any(t.split("/")[-1] in ("cputotal", "memoryusage") for t in topics)
    per_plugin = Layout("glances", "h", "per-plugin", ["containers"])
    ((_, payload),) = per_plugin.messages("containers", [entry])
    assert set(orjson.loads(payload)["web"]) == {
        "key", "name", "cpu_percent", "memory_usage", "status"
    }  # fmt: skip
    assert entry["cpu"] == {"total": 1.5}  # the served data is left as it is
