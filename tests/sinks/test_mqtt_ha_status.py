"""Hostile input on Home Assistant's status topic (issue #9): garbage, huge, retained and
wrong-topic messages are ignored without effect (no re-announcement, no reconnect, no
log flood, stats keep flowing); only a live, exact ``online`` on a status topic is a
birth, and a stream of births cannot make the sink re-send its configs in a loop.

A real Mosquitto (``tests/sinks/conftest.py``), the sink in-process, and a separate
paho client publishing as Home Assistant (or anyone with publish rights) would."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as paho
import pytest
import trio
from paho.mqtt.enums import CallbackAPIVersion

from pipeline.bus import Bus
from sinks import mqtt as mqtt_sink
from sinks.mqtt import MqttSink
from tests.polling import until
from tests.sinks.conftest import Broker, Received, Subscriber
from tests.sinks.test_mqtt import publish_stat, running_sink, sink_config

STATUS = "homeassistant/status"
LEGACY = "hass/status"

#: payloads on the status topics that are not Home Assistant's birth
GARBAGE = [
    b"",
    b"\xff\xfe\x00\x80 not utf-8",
    b'{"state": "online"}',
    b'"online"',
    b"Online",
    b"ONLINE",
    b" online",
    b"online\n",
    b"online\x00",
    b"onlinex",
    b"offline",
    b"online" * 1000,
    b"online" + b" " * 2_000_000,  # 2 MB that strips to "online"
    os.urandom(1_200_000),  # 1.2 MB of binary
]
#: topics near the status topic: the sink does not subscribe to them
NEAR_TOPICS = [
    "homeassistant/status/x",
    "homeassistant/statu",
    "homeassistant/statuses",
    "homeassistant//status",
    "/homeassistant/status",
    "Homeassistant/status",
    "homeassistant/status/",
    "hass/status/x",
    "hass/statu",
]


class Publisher:
    """One paho client on its own thread, publishing as Home Assistant would."""

    def __init__(self, port: int) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.connect("127.0.0.1", port, 60)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published(), f"not acknowledged: {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def publisher(port: int) -> Iterator[Publisher]:
    pub = Publisher(port)
    try:
        yield pub
    finally:
        pub.close()


def alert_configs(got: list[Received], host: str) -> int:
    """Announcements seen: the alert binary sensor's config is in every one."""
    topic = f"homeassistant/binary_sensor/statbus_{host}/alert/config"
    return sum(1 for m in got if m.topic == topic and m.payload)


async def test_garbage_huge_retained_and_near_topics_are_ignored(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(mqtt_sink, "BIRTH_DELAY", (0.05, 0.1))
    caplog.set_level(logging.DEBUG, logger="sinks.mqtt")
    # an old birth and some garbage the broker keeps (retained) before statbus connects
    with publisher(broker.port) as pub:
        pub.send(STATUS, b"online", retain=True)
        pub.send(LEGACY, b"\x00garbage", retain=True)
    sub = await Subscriber(broker.port, ["homeassistant/#", "glances/hs/cpu"]).start()
    bus = Bus()
    sink = MqttSink(bus, sink_config(broker.port), hostname="hs")
    async with running_sink(bus, sink):
        await until(lambda: sink.state == "connected")
        await publish_stat(bus, "cpu", {"total": 1.0}, seq=1)
        await sub.wait_for(lambda got: alert_configs(got, "hs") == 1)
        await until(lambda: sink.status_ignored == 2)  # both retained ones, ignored
        sent = 0
        seq = 1
        with publisher(broker.port) as pub:
            for payload in GARBAGE:
                for topic in (STATUS, LEGACY):
                    await trio.to_thread.run_sync(pub.send, topic, payload)
                    sent += 1
                seq += 1
                await publish_stat(bus, "cpu", {"total": float(seq)}, seq=seq)
            for topic in NEAR_TOPICS:
                await trio.to_thread.run_sync(pub.send, topic, b"online")
                await trio.to_thread.run_sync(
                    functools.partial(pub.send, retain=True), topic, b"online"
                )
            # every message on the status topics reached the sink and was judged
            await until(lambda: sink.status_ignored == 2 + sent, within=20)
            # the stats kept flowing through the flood: the last sample got out
            await sub.wait_for(
                lambda got: any(m.payload == b'{"total":%d.0}' % seq for m in got), within=10
            )
            # longer than BIRTH_DELAY: a birth taken by mistake would have announced
            await trio.sleep(0.5)
            assert alert_configs(sub.received(), "hs") == 1, "garbage re-announced discovery"
            assert (sink.state, sink.connects, sink.disconnects) == ("connected", 1, 0)
            ignored_lines = [
                r for r in caplog.records if r.name == "sinks.mqtt" and "ignor" in r.message
            ]
            # the first few are logged (at debug), then one line, whatever the flood
            assert 0 < len(ignored_lines) <= mqtt_sink.STATUS_LOG_LIMIT + 1
            assert all(len(r.getMessage()) < 500 for r in caplog.records)
            # the positive control: a live, exact "online" is a birth
            await trio.to_thread.run_sync(pub.send, STATUS, b"online")
            await sub.wait_for(lambda got: alert_configs(got, "hs") == 2, within=5)
    sub.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_a_stream_of_births_is_answered_at_most_once_per_interval(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    interval = 3.0
    monkeypatch.setattr(mqtt_sink, "BIRTH_DELAY", (0.05, 0.1))
    monkeypatch.setattr(mqtt_sink, "BIRTH_MIN_INTERVAL", interval)
    sub = await Subscriber(broker.port, "homeassistant/#").start()
    bus = Bus()
    sink = MqttSink(bus, sink_config(broker.port), hostname="hb")
    async with running_sink(bus, sink):
        await until(lambda: sink.state == "connected")
        await sub.wait_for(lambda got: alert_configs(got, "hb") == 1)
        mark = len(sub.received())
        stop = threading.Event()
        births = 0

        def flood() -> None:  # a birth every 0.1 s for about a second
            nonlocal births
            with publisher(broker.port) as pub:
                for _ in range(10):
                    if stop.is_set():
                        return
                    pub.send(STATUS, b"online")
                    births += 1
                    stop.wait(0.1)

        started = trio.current_time()
        await trio.to_thread.run_sync(flood)
        span = trio.current_time() - started
        # the first birth answered, the others folded into one answer at the interval's
        # end (not lost: Home Assistant still gets its configs)
        await sub.wait_for(lambda got: alert_configs(got[mark:], "hb") >= 2, within=10)
        await trio.sleep(0.5)
        answered = alert_configs(sub.received()[mark:], "hb")
    sub.stop()
    assert births == 10
    # at most one answer per interval over the span of the births, plus the one at its end
    assert answered <= 2 + int(span // interval), (answered, span)
