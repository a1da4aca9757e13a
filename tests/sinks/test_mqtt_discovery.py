"""Home Assistant discovery (``[mqtt.homeassistant]``): the pure builders, and the sink
against a real Mosquitto (configs that point at what is really published, the
announcement after Home Assistant's birth, deletion of vanished entities)."""

from __future__ import annotations

import re
from typing import Any

import jinja2
import orjson
import paho.mqtt.client as paho
import pytest
import trio
from paho.mqtt.enums import CallbackAPIVersion

from pipeline import __version__
from pipeline import config as cfg
from pipeline.bus import Bus
from sinks import mqtt as mqtt_sink
from sinks.mqtt import MqttSink
from sinks.mqtt_discovery import Discovery, Tracker, entities, slug, template_path
from sinks.mqtt_layout import PER_METRIC, PER_PLUGIN, Layout
from tests.polling import until
from tests.sinks.conftest import Broker, Received, Subscriber
from tests.sinks.test_mqtt import publish_stat, real_samples, running_sink, sink_config

SENSORS = [
    {"key": "label", "label": "Package id 0", "unit": "C", "value": 48, "type": "temperature_core"},
    {"key": "label", "label": "nvme0", "unit": "C", "value": 39, "type": "temperature_hdd"},
    {"key": "label", "label": "cpu_fan", "unit": "R", "value": 2100, "type": "fan_speed"},
    {"key": "label", "label": "Battery", "unit": "%", "value": 87, "type": "battery"},
]
ONGOING = {"begin": 1_800_000_000, "state": "WARNING", "type": "CPU_TOTAL", "end": -1}
CLOSED = {"begin": 1_799_999_000, "state": "CRITICAL", "type": "MEM", "end": 1_799_999_100}


# -- a tiny evaluator of the templates the sensors use ---------------------------------

_TEMPLATE = re.compile(r"\{\{ value_json((?:\.[A-Za-z_][A-Za-z0-9_]*|\['(?:[^'\\]|\\.)*'\])+) \}\}")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['((?:[^'\\]|\\.)*)'\]")


def template_value(template: str, payload: bytes) -> Any:
    """``{{ value_json.a['b'].c }}`` applied to the JSON payload."""
    match = _TEMPLATE.fullmatch(template)
    assert match is not None, f"not a value_json path: {template}"
    value = orjson.loads(payload)
    for attr, key in _STEP.findall(match[1]):
        step = attr or re.sub(r"\\(.)", r"\1", key)
        assert isinstance(value, dict) and step in value, (template, step)
        value = value[step]
    return value


def render(template: str, payload: bytes) -> str:
    """What Home Assistant renders (it is Jinja too, with ``value_json``)."""
    env = jinja2.Environment(autoescape=False)
    return env.from_string(template).render(value_json=orjson.loads(payload), value=payload)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- the pure parts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (["total"], "{{ value_json.total }}"),
        (["/", "percent"], "{{ value_json['/'].percent }}"),
        (["eth0", "bytes_recv_rate_per_sec"], "{{ value_json.eth0.bytes_recv_rate_per_sec }}"),
        (["it's"], "{{ value_json['it\\'s'] }}"),
        (["items"], "{{ value_json['items'] }}"),  # a dict method with dot syntax
        (["0"], "{{ value_json['0'] }}"),
    ],
)
def test_template_paths(path: list[str], expected: str) -> None:
    assert template_path(path) == expected
    payload: dict[str, Any] = {}
    level = payload
    for part in path[:-1]:
        level = level.setdefault(part, {})
    level[path[-1]] = 7
    assert render(expected, orjson.dumps(payload)) == "7"
    assert template_value(expected, orjson.dumps(payload)) == 7


def test_slugs_are_stable_safe_and_distinct() -> None:
    assert slug("eth0") == "eth0" and slug("sda-1") == "sda-1"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", slug("/mnt/a b"))
    assert slug("/mnt/a b") != slug("/mnt/a_b") and slug("/") == slug("/")
    assert slug("/").startswith("root_")


def test_entities_of_a_sample() -> None:
    network = [
        {"key": "interface_name", "interface_name": "eth0", "bytes_recv_rate_per_sec": 1.0},
        {"key": "interface_name", "interface_name": "wg0", "bytes_recv_rate_per_sec": None},
        {"key": "interface_name", "interface_name": "bad", "bytes_recv_rate_per_sec": "x"},
    ]
    got = [(e.item, e.spec.field) for e in entities("network", network)]
    assert got == [("eth0", "bytes_recv_rate_per_sec"), ("wg0", "bytes_recv_rate_per_sec")]
    assert [e.object_id for e in entities("uptime", "1 day, 0:00:01")] == ["uptime_seconds"]
    sensors = {e.item: (e.spec.unit, e.spec.device_class) for e in entities("sensors", SENSORS)}
    assert sensors == {
        "Package id 0": ("°C", "temperature"),
        "nvme0": ("°C", "temperature"),
        "cpu_fan": ("rpm", None),
        "Battery": ("%", "battery"),
    }
    assert list(entities("ip", {"address": "10.0.0.1"})) == []


def test_tracker_adds_deletes_and_announces_again() -> None:
    discovery = Discovery(Layout("glances", "h", PER_PLUGIN, ["network"]), prefix="ha", device="h")
    tracker = Tracker(discovery)
    two = [
        {"key": "interface_name", "interface_name": n, "bytes_sent_rate_per_sec": 0.0}
        for n in ("eth0", "eth1")
    ]
    assert tracker.sample("network", two, [])
    assert tracker.sample("network", two, []) is False  # same entities: nothing to send
    first = dict(tracker.pending)
    assert len(first) == 2 and all(first.values())
    for topic, payload in first.items():
        tracker.sent(topic, payload)
    tracker.pending.clear()
    assert tracker.sample("network", two[:1], [])
    gone = "ha/sensor/statbus_h/network_eth1_bytes_sent_rate_per_sec/config"
    assert tracker.pending == {gone: b""}
    # the deletion is lost with the connection: the next announcement sends it again
    tracker.pending.clear()
    tracker.announce(restate=False)
    assert tracker.pending[gone] == b""
    tracker.acknowledged(gone, b"")
    tracker.pending.clear()
    tracker.announce(restate=False)
    assert gone not in tracker.pending
    assert set(tracker.pending) == set(tracker.current())  # alert binary sensor included


def test_config_section() -> None:
    ha = cfg.Config().mqtt.homeassistant
    assert (ha.enabled, ha.prefix, ha.status_topic) == (True, "homeassistant", "")
    config = cfg.from_mapping({"mqtt": {"homeassistant": {"prefix": "hass2", "enabled": False}}})
    assert config.mqtt.homeassistant.prefix == "hass2"
    assert config.as_dict()["mqtt"]["homeassistant"]["enabled"] is False
    for raw, needle in [
        ({"prefix": ""}, "mqtt.homeassistant.prefix = '': must not be empty"),
        ({"status_topic": "a/#"}, "mqtt.homeassistant.status_topic = 'a/#': must not contain"),
        ({"enabled": 1}, "mqtt.homeassistant.enabled = 1: must be true or false"),
        ({"nope": 1}, "mqtt.homeassistant.nope = 1: unknown key"),
    ]:
        with pytest.raises(cfg.ConfigError, match=re.escape(needle)):
            cfg.from_mapping({"mqtt": {"homeassistant": raw}})
    with pytest.raises(cfg.ConfigError, match="mqtt.homeassistant = 3: must be a table"):
        cfg.from_mapping({"mqtt": {"homeassistant": 3}})
    bus = Bus()
    assert MqttSink(bus, config).discovery is None


# -- against the broker ----------------------------------------------------------------


def configs(messages: list[Received], prefix: str = "homeassistant") -> dict[str, bytes]:
    """The latest config per topic."""
    out: dict[str, bytes] = {}
    for m in messages:
        if m.topic.startswith(prefix + "/") and m.topic.endswith("/config"):
            out[m.topic] = m.payload
    return out


def latest(messages: list[Received]) -> dict[str, bytes]:
    return {m.topic: m.payload for m in messages}


async def publish_raw(port: int, topic: str, payload: bytes) -> None:
    """One message from a separate client, as Home Assistant sends its birth."""

    def send() -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", port, 60)
        client.loop_start()
        client.publish(topic, payload, qos=1).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()

    await trio.to_thread.run_sync(send)


EXPECTED = {
    "cpu_total",
    "load_min1",
    "load_min5",
    "load_min15",
    "mem_percent",
    "mem_used",
    "memswap_percent",
    "processcount_running",
    "processcount_total",
    "uptime_seconds",
}


@pytest.mark.parametrize("structure", [PER_PLUGIN, PER_METRIC])
async def test_configs_point_at_published_values(broker: Broker, structure: str) -> None:
    samples = real_samples(
        {"cpu", "mem", "memswap", "load", "fs", "network", "diskio", "processcount"}
    )
    samples["sensors"] = SENSORS
    samples["uptime"] = "1 day, 2:03:04"
    sub = await Subscriber(broker.port, ["homeassistant/#", "glances/#"]).start()
    bus = Bus()
    config = sink_config(broker.port, topic_structure=structure)
    async with running_sink(bus, MqttSink(bus, config, hostname="h")) as sink:
        await until(lambda: sink.state == "connected")
        for plugin, data in samples.items():
            await publish_stat(bus, plugin, data)
        await publish_stat(bus, "alert", [ONGOING, CLOSED])

        def complete(got: list[Received]) -> bool:
            found = configs(got)
            topics = {m.topic for m in got}
            return len(found) > len(EXPECTED) and all(
                orjson.loads(p)["state_topic"] in topics for p in found.values()
            )

        got = await sub.wait_for(complete, within=10)
    sub.stop()
    published = latest(got)
    found = {t: orjson.loads(p) for t, p in configs(got).items()}

    unique_ids = [c["unique_id"] for c in found.values()]
    assert len(unique_ids) == len(set(unique_ids))
    object_ids = set()
    for topic, c in found.items():
        component, node, object_id = topic.split("/")[1:4]
        assert node == "statbus_h" and c["unique_id"] == f"statbus_h_{object_id}"
        object_ids.add(object_id)
        assert c["device"] == {
            "identifiers": ["statbus_h"],
            "name": "h",
            "manufacturer": "statbus",
            "model": "statbus host monitor",
            "sw_version": __version__,
        }
        assert c["availability_topic"] == "glances/h/availability"
        assert c["name"]
        payload = published[c["state_topic"]]  # a topic the sink really publishes
        if component == "binary_sensor":
            continue
        assert component == "sensor"
        assert c["state_class"] == "measurement"
        assert isinstance(c["expire_after"], int) and c["expire_after"] >= 6
        if structure == PER_PLUGIN:
            value = template_value(c["value_template"], payload)
            assert is_number(value), (topic, value)
            assert render(c["value_template"], payload) == str(value)
        else:
            assert "value_template" not in c
            float(payload)  # a plain number

    interfaces = [item["interface_name"] for item in samples["network"]]
    disks = [item["disk_name"] for item in samples["diskio"]]
    expected = set(EXPECTED) | {"alert"}
    expected |= {f"fs_{slug('/')}_percent", f"fs_{slug('/')}_free"}
    for name in interfaces:
        expected |= {f"network_{slug(name)}_bytes_recv_rate_per_sec"}
        expected |= {f"network_{slug(name)}_bytes_sent_rate_per_sec"}
    for name in disks:
        expected |= {f"diskio_{slug(name)}_read_bytes_rate_per_sec"}
        expected |= {f"diskio_{slug(name)}_write_bytes_rate_per_sec"}
    for item in SENSORS:
        expected.add(f"sensors_{slug(item['label'])}_value")
    assert expected <= object_ids, expected - object_ids

    by_id = {c["unique_id"]: c for c in found.values()}
    cpu, fs_free = by_id["statbus_h_cpu_total"], by_id[f"statbus_h_fs_{slug('/')}_free"]
    assert (cpu["unit_of_measurement"], cpu["expire_after"]) == ("%", 6)
    assert (fs_free["device_class"], fs_free["unit_of_measurement"]) == ("data_size", "B")
    assert fs_free["expire_after"] == 180  # fs refreshes every 60 s
    battery = by_id[f"statbus_h_sensors_{slug('Battery')}_value"]
    assert (battery["device_class"], battery["unit_of_measurement"]) == ("battery", "%")
    uptime = by_id["statbus_h_uptime_seconds"]
    assert (uptime["device_class"], uptime["unit_of_measurement"]) == ("duration", "s")
    if structure == PER_METRIC:
        assert published[uptime["state_topic"]] == b"93784"

    # the problem binary sensor: on while an event is ongoing, the events as attributes
    alert = by_id["statbus_h_alert"]
    assert (alert["device_class"], alert["state_topic"]) == ("problem", "glances/h/alert")
    assert alert["json_attributes_topic"] == "glances/h/alert"
    assert render(alert["value_template"], published["glances/h/alert"]) == "ON"
    attributes = orjson.loads(
        render(alert["json_attributes_template"], published["glances/h/alert"])
    )
    assert attributes == {"events": [ONGOING]}
    assert render(alert["value_template"], orjson.dumps([CLOSED])) == "OFF"
    assert render(alert["value_template"], b"[]") == "OFF"

    # configs are retained: a newcomer (Home Assistant starting later) gets them all
    late = await Subscriber(broker.port, "homeassistant/#").start()
    retained = await late.wait_for(lambda got: len(got) >= len(found))
    late.stop()
    assert all(m.retain for m in retained)
    assert configs(retained) == configs(got)


async def test_announced_again_after_home_assistant_birth(broker: Broker) -> None:
    sub = await Subscriber(broker.port, ["homeassistant/#", "glances/h2/cpu"]).start()
    bus = Bus()
    async with running_sink(bus, MqttSink(bus, sink_config(broker.port), hostname="h2")) as sink:
        await until(lambda: sink.state == "connected")
        await publish_stat(bus, "cpu", {"total": 12.5})
        await publish_stat(bus, "alert", [])
        # the configs, the sample, and the sample again once Home Assistant has had
        # time to subscribe to the new entities' state topics
        first = await sub.wait_for(
            lambda got: (
                len(configs(got)) == 2 and [m.topic for m in got].count("glances/h2/cpu") == 2
            )
        )
        await trio.sleep(0.1)
        mark = len(sub.received())
        started = trio.current_time()
        await publish_raw(broker.port, "homeassistant/status", b"online")

        def announced(got: list[Received]) -> bool:
            again = got[mark:]
            return len(configs(again)) == 2 and b'{"total":12.5}' in [
                m.payload for m in again if m.topic == "glances/h2/cpu"
            ]

        got = await sub.wait_for(announced, within=8)
        elapsed = trio.current_time() - started
    sub.stop()
    again = got[mark:]
    assert configs(again) == configs(first)
    assert elapsed >= 0.9  # after the 1-5 s grace time, not at once
    # configs first, then the state
    topics = [m.topic for m in again]
    cpu_config = "homeassistant/sensor/statbus_h2/cpu_total/config"
    assert topics.index(cpu_config) < topics.index("glances/h2/cpu")


async def test_garbage_on_the_status_topic_is_ignored(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt_sink, "BIRTH_DELAY", (0.1, 0.2))
    sub = await Subscriber(broker.port, "homeassistant/#").start()
    bus = Bus()
    async with running_sink(bus, MqttSink(bus, sink_config(broker.port), hostname="h3")) as sink:
        await until(lambda: sink.state == "connected")
        await sub.wait_for(lambda got: len(configs(got)) == 1)  # the alert binary sensor
        await trio.sleep(0.1)
        mark = len(sub.received())
        for payload in (b"offline", b"\xff\xfe\x00", b"online" * 20_000, b"", b"onlin"):
            await publish_raw(broker.port, "homeassistant/status", payload)
        await publish_raw(broker.port, "homeassistant/statusx", b"online")
        await trio.sleep(0.8)
        assert sink.state == "connected" and sink.connects == 1
        # only the test's own status messages, no configs again
        assert configs(sub.received()[mark:]) == {}
        # the legacy birth topic works
        await publish_raw(broker.port, "hass/status", b"online")
        await sub.wait_for(lambda got: len(configs(got[mark:])) == 1, within=3)


async def test_vanished_entities_get_an_empty_retained_config(broker: Broker) -> None:
    def network(*names: str) -> list[dict[str, Any]]:
        return [
            {
                "key": "interface_name",
                "interface_name": n,
                "bytes_recv_rate_per_sec": 10.0,
                "bytes_sent_rate_per_sec": 20.0,
            }
            for n in names
        ]

    def interface_topics(name: str) -> set[str]:
        return {
            f"homeassistant/sensor/statbus_h4/network_{name}_bytes_{d}_rate_per_sec/config"
            for d in ("recv", "sent")
        }

    sub = await Subscriber(broker.port, "homeassistant/#").start()
    bus = Bus()
    async with running_sink(bus, MqttSink(bus, sink_config(broker.port), hostname="h4")) as sink:
        await until(lambda: sink.state == "connected")
        await publish_stat(bus, "network", network("eth0", "usb0"), seq=1)
        await sub.wait_for(lambda got: interface_topics("usb0") <= set(configs(got)))
        await publish_stat(bus, "network", network("eth0"), seq=2)
        got = await sub.wait_for(
            lambda got: all(configs(got).get(t) == b"" for t in interface_topics("usb0"))
        )
        await publish_stat(bus, "network", network("eth0", "wlan0"), seq=3)
        await sub.wait_for(lambda got: interface_topics("wlan0") <= set(configs(got)))
    sub.stop()
    final = configs(sub.received())
    assert all(final[t] for t in interface_topics("eth0") | interface_topics("wlan0"))
    # eth0's configs were sent once: a sample with the same entities sends nothing
    eth0 = [m for m in got if m.topic in interface_topics("eth0")]
    assert len(eth0) == 2
    # what the broker keeps: eth0 and wlan0 (and the alert sensor), not usb0
    late = await Subscriber(broker.port, "homeassistant/#").start()
    await late.wait_for(lambda got: len(got) >= 5)
    await trio.sleep(0.2)
    late.stop()
    kept = set(configs(late.received()))
    assert kept == interface_topics("eth0") | interface_topics("wlan0") | {
        "homeassistant/binary_sensor/statbus_h4/alert/config"
    }
