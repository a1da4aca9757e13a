"""The MQTT sink against brokers that misbehave: a client id taken by another client,
a message the broker refuses, topics of vanished items while disconnected, the alert
list after a broker restart."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trio
import trio.testing

from pipeline.bus import Bus
from sinks.mqtt import MAX_DROPS_IN_FLIGHT, MqttSink
from tests.polling import until
from tests.sinks.conftest import Broker, Subscriber, free_port, mosquitto_binary
from tests.sinks.test_mqtt import publish_stat, running_sink, sink_config


async def test_two_sinks_with_one_client_id_back_off_instead_of_flapping(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker closes the older of two connections with one client id: each sink
    sees its connection dropped at once.  The backoff must keep growing (no reconnect
    every retry_initial), and the flapping is logged once, not at every drop."""
    caplog.set_level(logging.DEBUG, logger="sinks.mqtt")
    config = sink_config(broker.port, client_id="same-id")  # retry 0.1 s doubling to 0.4 s
    bus = Bus()
    one, two = MqttSink(bus, config, hostname="a"), MqttSink(bus, config, hostname="b")
    async with running_sink(bus, one), running_sink(bus, two):
        await until(lambda: one.connects >= 2 and two.connects >= 2)  # they fight over it
        started = trio.current_time()
        before = one.connects + two.connects
        await trio.sleep(4)
        took = trio.current_time() - started
    # with the backoff reset at every drop they would reconnect every 0.1 s, ~40 times
    # in 4 s each; growing to retry_max (0.4 s, jittered by up to 25 %) a sink makes at
    # most one attempt per 0.3 s (a loaded machine only makes them fewer)
    assert one.connects + two.connects - before <= 2 * (took / 0.3 + 1)
    flapping = [r for r in caplog.records if "after it was made" in r.getMessage()]
    assert len(flapping) <= 2  # once per sink


async def test_a_message_the_broker_refuses_is_given_up(tmp_path: Any) -> None:
    broker = Broker(mosquitto_binary(), tmp_path, extra_conf=["max_packet_size 2000"])
    broker.start()
    try:
        sub = await Subscriber(broker.port, "glances/big/#").start()
        bus = Bus()
        sink = MqttSink(bus, sink_config(broker.port), hostname="big")
        async with running_sink(bus, sink):
            await until(lambda: sink.state == "connected")
            disks = [
                {"disk_name": f"sd{i}", "key": "disk_name", "read_bytes": i} for i in range(80)
            ]
            await publish_stat(bus, "diskio", disks)  # ~5 kB: over max_packet_size
            await until(lambda: sink.dropped == 1, within=15)
            assert sink.connects == MAX_DROPS_IN_FLIGHT  # dropped with it 3 times: given up
            await until(lambda: sink.state == "connected", within=5)
            connects = sink.connects
            await publish_stat(bus, "diskio", disks, seq=2)  # not tried again
            await publish_stat(bus, "mem", {"percent": 12.5, "total": 1})
            await sub.wait_for(lambda ms: any(m.topic == "glances/big/mem" for m in ms))
            await trio.sleep(0.5)
            assert sink.connects == connects and sink.state == "connected"
            assert sub.received("glances/big/diskio") == []
        sub.stop()
    finally:
        broker.stop()


async def test_topics_of_vanished_items_do_not_pile_up_while_disconnected() -> None:
    bus = Bus()
    sink = MqttSink(
        bus, sink_config(free_port(), topic_structure="per-metric"), hostname="churn"
    )  # nothing listens on that port: it stays disconnected
    async with running_sink(bus, sink):
        for i in range(50):  # a new veth in every sample
            nics = [{"interface_name": f"veth{i}", "key": "interface_name", "bytes_recv": i}]
            await publish_stat(bus, "network", nics, seq=i + 1)
        await trio.testing.wait_all_tasks_blocked()
        # only the last sample's topics wait, not 50 interfaces' worth
        assert sink.pending_stats == len(sink.layout.messages("network", nics))
        assert sink.pending_stats < 10


async def test_the_alert_list_is_sent_again_after_a_broker_restart(tmp_path: Any) -> None:
    broker = Broker(mosquitto_binary(), tmp_path)  # no persistence: it forgets retained
    broker.start()
    try:
        bus = Bus()
        sink = MqttSink(bus, sink_config(broker.port), hostname="al")
        async with running_sink(bus, sink):
            await until(lambda: sink.state == "connected")
            ongoing = [{"type": "MEM", "state": "WARNING", "end": -1}]
            await publish_stat(bus, "alert", ongoing)
            await until(lambda: sink.published >= 2)
            broker.stop()
            await until(lambda: sink.state != "connected")
            broker.start()
            await until(lambda: sink.state == "connected", within=10)
            late = await Subscriber(broker.port, "glances/al/alert").start()
            got = await late.wait_for(lambda ms: bool(ms))
            assert json.loads(got[0].payload) == ongoing and got[0].retain
            late.stop()
    finally:
        broker.stop()
