"""The MQTT sink against a real Mosquitto: layout, availability, reconnect, buffering."""

from __future__ import annotations

import signal
import string
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio

from pipeline.bus import Bus
from pipeline.config import from_mapping
from pipeline.events import AlertEvent, StatEvent
from pipeline.samplers import all_samplers
from pipeline.topics import ALERTS_TOPIC, STATS_TOPIC
from sinks.mqtt import MqttSink
from tests.pipeline.sampler_helpers import context
from tests.polling import until
from tests.sinks.conftest import Broker, Subscriber

FAST_RETRY = {"retry_initial": 0.1, "retry_max": 0.4}


def sink_config(port: int, **mqtt: Any) -> Any:
    return from_mapping(
        {
            "global": FAST_RETRY,
            "mqtt": {"enabled": True, "host": "127.0.0.1", "port": port, **mqtt},
        }
    )


@asynccontextmanager
async def running_sink(bus: Bus, sink: MqttSink) -> AsyncIterator[MqttSink]:
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.run)
        yield sink
        nursery.cancel_scope.cancel()


async def publish_stat(bus: Bus, plugin: str, data: Any, seq: int = 1) -> None:
    await bus.publish(STATS_TOPIC, StatEvent(plugin, time.time(), seq, data))


def transition(n: int) -> AlertEvent:
    event = {"type": "CPU_TOTAL", "state": "WARNING", "n": n}
    return AlertEvent("opened" if n % 2 else "closed", 1_800_000_000.0 + n, event)


# -- the reference's export, transcribed from glances/exports/export.py + glances_mqtt --


def reference_columns(stats: Any) -> tuple[list[str], list[Any]]:
    """``GlancesExport.build_export``: sorted keys, lower-cased, nested dicts joined
    without separator, lists space-joined, booleans JSON (kept as bools here: see
    docs/mqtt.md), list items prefixed with their key value."""
    names: list[str] = []
    values: list[Any] = []
    if isinstance(stats, dict):
        pre = f"{stats[stats['key']]}." if "key" in stats and stats["key"] in stats else ""
        for key, value in sorted(stats.items()):
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            if isinstance(value, dict):
                sub_names, sub_values = reference_columns(value)
                names += [pre + key.lower() + str(n) for n in sub_names]
                values += sub_values
            else:
                names.append(pre + key.lower())
                values.append(value)
    elif isinstance(stats, list):
        for item in stats:
            n, v = reference_columns(item)
            names += n
            values += v
    return names, values


def reference_per_plugin(stats: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in zip(*reference_columns(stats), strict=True):
        *parents, leaf = key.split(".")
        level = out
        for part in parents:
            level = level.setdefault(part, {})
        level[leaf] = value
    return out


def reference_per_metric(base: str, plugin: str, stats: Any) -> dict[str, bytes]:
    allowed = "_-" + string.ascii_letters + string.digits
    out = {}
    for key, value in zip(*reference_columns(stats), strict=True):
        parts = ["".join(c if c in allowed else "_" for c in p) for p in key.split(".")]
        if isinstance(value, bool):
            payload = b"true" if value else b"false"
        else:
            payload = b"" if value is None else str(value).encode()
        out["/".join([base, plugin, *parts])] = payload
    return out


def real_samples(plugins: set[str]) -> dict[str, Any]:
    """Real readings of this machine (two rounds, so rates are set)."""
    out: dict[str, Any] = {}
    ctx = context()
    for spec in all_samplers():
        if not plugins & set(spec.plugins):
            continue
        _, state = spec.sample(None, ctx)
        time.sleep(0.05)
        data, _ = spec.sample(state, ctx)
        out.update({p: d for p, d in data.items() if p in plugins})
    assert set(out) == plugins
    return out


FIVE = {"cpu", "mem", "load", "fs", "network"}


# -- layout ---------------------------------------------------------------------------


async def test_per_plugin_topics_and_payloads_match_the_reference(broker: Broker) -> None:
    samples = real_samples(FIVE)
    sub = await Subscriber(broker.port, "glances/#").start()
    bus = Bus()
    async with running_sink(bus, MqttSink(bus, sink_config(broker.port), hostname="h1")) as sink:
        await until(lambda: sink.state == "connected")
        for plugin, data in samples.items():
            await publish_stat(bus, plugin, data)
        await publish_stat(bus, "uptime", "3 days, 10:25:20")
        await sub.wait_for(lambda got: len(got) >= 7)
    await sub.wait_for(lambda got: b"offline" in [m.payload for m in got])
    sub.stop()
    for plugin, data in samples.items():
        (payload,) = sub.payloads(f"glances/h1/{plugin}")
        assert orjson.loads(payload) == reference_per_plugin(data), plugin
        assert b" " not in payload  # compact JSON
    network = orjson.loads(sub.payloads("glances/h1/network")[0])
    assert set(network) == {item["interface_name"] for item in samples["network"]}
    assert "/" in orjson.loads(sub.payloads("glances/h1/fs")[0])
    assert sub.payloads("glances/h1/uptime") == [b'{"seconds":296720}']
    availability = sub.received("glances/h1/availability")
    assert [m.payload for m in availability] == [b"online", b"offline"]
    assert sink.published >= 8 and sink.state == "disconnected"


async def test_a_round_is_handed_to_paho_in_one_pump_and_written_at_once(
    broker: Broker, monkeypatch: Any
) -> None:
    """A round published together is translated in one wake-up and handed to paho by
    one pump; paho writes it at once, without first asking epoll whether the socket
    has room (it does).  The broker gets the round in its order."""
    sub = await Subscriber(broker.port, "glances/#").start()
    bus = Bus()
    sink = MqttSink(bus, sink_config(broker.port), hostname="h1")
    pumps: list[int] = []
    real_pump = sink._pump

    def pump(conn: Any, **kw: Any) -> None:
        pumps.append(len(sink._latest))
        real_pump(conn, **kw)

    monkeypatch.setattr(sink, "_pump", pump)
    waits: list[Any] = []
    real_wait = trio.lowlevel.wait_writable

    async def wait_writable(sock: Any) -> None:
        waits.append(sock)
        await real_wait(sock)

    monkeypatch.setattr(trio.lowlevel, "wait_writable", wait_writable)
    round_ = {"load": {"min1": 0.5}, "mem": {"percent": 5.0}, "core": {"phys": 1, "log": 2}}
    round_ |= {"memswap": {"percent": 0.0}, "uptime": "0:00:05"}
    async with running_sink(bus, sink):
        await until(lambda: sink.state == "connected")
        await sub.wait_for(lambda got: len(got) >= 1)  # online
        await until(lambda: not sink._unacked)
        pumps.clear()
        waits.clear()
        now = time.time()
        await bus.publish_many(
            STATS_TOPIC, [StatEvent(p, now, 1, d).to_msgpack() for p, d in round_.items()]
        )
        await sub.wait_for(lambda got: len(got) >= 6)
    sub.stop()
    assert pumps[0] == len(round_)
    assert waits == []
    assert [m.topic for m in sub.messages[1:6]] == [f"glances/h1/{p}" for p in round_]


async def test_per_metric_topics_and_payloads_match_the_reference(broker: Broker) -> None:
    samples = real_samples(FIVE)
    samples["fs"] = samples["fs"] + [
        {"key": "mnt_point", "mnt_point": "/mnt/my disk.v2", "percent": 12.5, "used": 7}
    ]
    processes = [
        {
            "key": "pid",
            "pid": 42,
            "name": "web",
            "cmdline": ["nginx", "-g", "daemon off;"],
            "memory_info": {"rss": 100, "vms": 200},
            "gids": {"real": 0},
            "nice": None,
            "is_zombie": False,
        }
    ]
    expected: dict[str, bytes] = {}
    for plugin, data in samples.items():
        expected.update(reference_per_metric("glances/h2", plugin, data))
    expected.update(reference_per_metric("glances/h2", "processlist", processes))
    sub = await Subscriber(broker.port, "glances/#").start()
    bus = Bus()
    config = sink_config(
        broker.port, topic_structure="per-metric", plugins=[*FIVE, "processlist", "uptime"]
    )
    async with running_sink(bus, MqttSink(bus, config, hostname="h2")) as sink:
        await until(lambda: sink.state == "connected")
        for plugin, data in samples.items():
            await publish_stat(bus, plugin, data)
        await publish_stat(bus, "processlist", processes)
        await publish_stat(bus, "uptime", "1 day, 2:03:04")
        want = set(expected) | {"glances/h2/uptime/seconds"}
        await sub.wait_for(lambda got: want <= {m.topic for m in got}, within=10)
    sub.stop()
    got = {m.topic: m.payload for m in sub.received() if m.topic in expected}
    assert got == expected
    # the edge cases, spelled out
    assert got["glances/h2/fs/_mnt_my_disk/v2/percent"] == b"12.5"
    assert got["glances/h2/processlist/42/memory_inforss"] == b"100"
    assert got["glances/h2/processlist/42/cmdline"] == b"nginx -g daemon off;"
    assert got["glances/h2/processlist/42/nice"] == b""
    assert got["glances/h2/processlist/42/is_zombie"] == b"false"
    assert got["glances/h2/processlist/42/key"] == b"pid"
    assert sub.payloads("glances/h2/uptime/seconds") == [b"93784"]
    interface = samples["network"][0]["interface_name"]
    assert got[f"glances/h2/network/{interface}/is_up"] in (b"true", b"false")


async def test_excluded_and_unexported_plugins_are_not_published(broker: Broker) -> None:
    sub = await Subscriber(broker.port, "glances/#").start()
    bus = Bus()
    config = sink_config(broker.port, exclude=["load"])
    async with running_sink(bus, MqttSink(bus, config, hostname="h3")) as sink:
        await until(lambda: sink.state == "connected")
        await publish_stat(bus, "load", {"min1": 1.0})
        for plugin in ("quicklook", "version", "psutilversion", "processlist", "programlist"):
            await publish_stat(bus, plugin, [] if plugin.endswith("list") else "x")
        await publish_stat(bus, "mem", {"percent": 1.0})
        await sub.wait_for(lambda got: "glances/h3/mem" in {m.topic for m in got})
    sub.stop()
    stats_topics = {m.topic for m in sub.received()} - {"glances/h3/availability"}
    assert stats_topics == {"glances/h3/mem"}


# -- availability ---------------------------------------------------------------------

SINK_SCRIPT = """
import sys, trio
from pipeline.bus import Bus
from pipeline.config import from_mapping
from sinks.mqtt import MqttSink

async def main():
    bus = Bus()
    config = from_mapping({"mqtt": {"enabled": True, "host": "127.0.0.1",
                                    "port": int(sys.argv[1])}})
    sink = MqttSink(bus, config, hostname="killed")
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.run)
        while sink.state != "connected":
            await trio.sleep(0.01)
        print("connected", flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


async def test_lwt_offline_when_the_sink_is_killed(broker: Broker) -> None:
    sub = await Subscriber(broker.port, "glances/killed/availability").start()
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
        [sys.executable, "-c", SINK_SCRIPT, str(broker.port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await trio.to_thread.run_sync(proc.stdout.readline)
        assert line.strip() == "connected"
        await sub.wait_for(lambda got: [m.payload for m in got] == [b"online"])
        proc.send_signal(signal.SIGKILL)
        await sub.wait_for(lambda got: [m.payload for m in got] == [b"online", b"offline"])
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    sub.stop()
    # the will is retained: a newcomer learns the host is offline
    late = await Subscriber(broker.port, "glances/killed/availability").start()
    got = await late.wait_for(lambda got: len(got) == 1)
    late.stop()
    assert (got[0].payload, got[0].retain) == (b"offline", True)


async def test_online_retained_then_offline_on_clean_shutdown(broker: Broker) -> None:
    bus = Bus()
    async with running_sink(bus, MqttSink(bus, sink_config(broker.port), hostname="h4")) as sink:
        await until(lambda: sink.state == "connected")
        await until(lambda: sink.published >= 1)  # "online" acknowledged
        early = await Subscriber(broker.port, "glances/h4/availability").start()
        got = await early.wait_for(lambda got: len(got) == 1)
        assert (got[0].payload, got[0].retain) == (b"online", True)
    got = await early.wait_for(lambda got: len(got) == 2)
    early.stop()
    assert got[1].payload == b"offline"
    late = await Subscriber(broker.port, "glances/h4/availability").start()
    got = await late.wait_for(lambda got: len(got) == 1)
    await trio.sleep(0.1)
    late.stop()
    assert [(m.payload, m.retain) for m in late.received()] == [(b"offline", True)]


# -- surviving the broker -------------------------------------------------------------


async def test_broker_down_at_start_then_started(broker: Broker) -> None:
    broker.stop()
    bus = Bus()
    config = sink_config(broker.port, retain=True)
    async with running_sink(bus, MqttSink(bus, config, hostname="h5")) as sink:
        await until(lambda: sink.last_error is not None)
        assert sink.state != "connected" and sink.connects == 0
        await publish_stat(bus, "cpu", {"total": 1.0}, seq=1)
        await publish_stat(bus, "cpu", {"total": 2.0}, seq=2)
        await trio.sleep(0.3)  # a few failed attempts: statbus keeps running
        assert sink.pending_stats == 1
        broker.start()
        await until(lambda: sink.state == "connected")
        await until(lambda: sink.pending_stats == 0 and sink.published >= 2)
        sub = await Subscriber(broker.port, "glances/h5/cpu").start()
        got = await sub.wait_for(lambda got: len(got) == 1)
        sub.stop()
        assert (got[0].payload, got[0].retain) == (b'{"total":2.0}', True)
        assert sink.connects == 1


async def test_broker_restart_delivers_transitions_once_in_order_without_stats_flood(
    persistent_broker: Broker,
) -> None:
    broker = persistent_broker
    topics = ["glances/h6/events", "glances/h6/cpu", "glances/h6/alert"]
    sub = await Subscriber(broker.port, topics, client_id="test-subscriber").start()
    bus = Bus()
    # no discovery: its state re-sent after new entities would blur the count of stats
    config = sink_config(broker.port, homeassistant={"enabled": False})
    async with running_sink(bus, MqttSink(bus, config, hostname="h6")) as sink:
        await until(lambda: sink.state == "connected")
        await bus.publish(ALERTS_TOPIC, transition(1))
        await publish_stat(bus, "cpu", {"total": 1}, seq=1)
        await publish_stat(bus, "alert", [{"type": "CPU_TOTAL", "end": -1}], seq=1)
        await sub.wait_for(lambda got: len(got) == 3)
        await sub.sync_broker_state(persistent_broker)

        # The broker hangs (SIGSTOP): two transitions are handed over but never
        # acknowledged.  Then it dies (SIGKILL) and the sink notices.
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGSTOP)
        for n in (2, 3):
            await bus.publish(ALERTS_TOPIC, transition(n))
        await until(lambda: sink.queued == 2 and not sink._events)  # in paho's hands
        broker.stop(signal.SIGKILL)
        await until(lambda: sink.state != "connected")
        # While it is down: more transitions, and a stats backlog.
        for n in (4, 5):
            await bus.publish(ALERTS_TOPIC, transition(n))
        for seq in range(2, 7):
            await publish_stat(bus, "cpu", {"total": seq}, seq=seq)
        await publish_stat(bus, "alert", [{"type": "CPU_TOTAL", "end": 5}], seq=2)
        assert sink.queued == 4 and sink.dropped == 0
        broker.start()
        await until(lambda: sink.connects == 2, within=10)
        await sub.wait_for(lambda got: len(got) >= 9, within=10)
        await until(lambda: sink.queued == 0 and sink.pending_stats == 0)
        await trio.sleep(0.3)  # room for a duplicate to show up
    sub.stop()
    events = [orjson.loads(p) for p in sub.payloads("glances/h6/events")]
    assert [e["event"]["n"] for e in events] == [1, 2, 3, 4, 5]
    assert events[1] == {
        "transition": "closed",
        "ts": 1_800_000_002.0,
        "event": {"type": "CPU_TOTAL", "state": "WARNING", "n": 2},
    }
    # one cpu message per connection: the outage's backlog collapsed to the latest
    assert sub.payloads("glances/h6/cpu") == [b'{"total":1}', b'{"total":6}']
    alert_lists = [orjson.loads(p) for p in sub.payloads("glances/h6/alert")]
    assert alert_lists[-1] == [{"type": "CPU_TOTAL", "end": 5}]
    assert (sink.connects, sink.disconnects, sink.dropped) == (2, 1, 0)


async def test_queue_overflow_drops_the_oldest_and_counts_it(persistent_broker: Broker) -> None:
    broker = persistent_broker
    sub = await Subscriber(broker.port, "glances/h7/events", client_id="test-overflow").start()
    broker.stop()
    bus = Bus()
    config = sink_config(broker.port, queue_size=3)
    async with running_sink(bus, MqttSink(bus, config, hostname="h7")) as sink:
        for n in range(1, 6):
            await bus.publish(ALERTS_TOPIC, transition(n))
        # the bus hands a round over without a checkpoint: wait until the sink took all 5
        await until(lambda: sink.queued + sink.dropped == 5)
        assert (sink.queued, sink.dropped) == (3, 2)
        broker.start()
        await until(lambda: sink.state == "connected" and sink.queued == 0)
        await sub.wait_for(lambda got: len(got) >= 3, within=10)
        await trio.sleep(0.2)
    sub.stop()
    assert [orjson.loads(p)["event"]["n"] for p in sub.payloads("glances/h7/events")] == [3, 4, 5]
    assert sink.as_dict()["dropped"] == 2
