"""The state stage: latest sample per plugin, decoded and JSON-encoded lazily, once."""

from __future__ import annotations

import orjson
import pytest
import trio

from pipeline import codec
from pipeline.bus import Bus
from pipeline.events import AlertEvent, StatEvent
from pipeline.stages.state import StateStage
from pipeline.topics import STATS_TOPIC


def stat(plugin: str, seq: int, data: object) -> bytes:
    return StatEvent(plugin, 1000.0 + seq, seq, data).to_msgpack()


def test_head_reads_the_first_fields_only() -> None:
    raw = stat("cpu", 3, {"total": 1.5})
    assert codec.head(raw, 2) == ("stat", ["cpu", 1003.0])
    with pytest.raises(codec.CodecError):
        codec.head(b"\x93\xa4nope\x01\x02", 2)  # unknown tag
    with pytest.raises(codec.CodecError):
        codec.head(raw, 9)  # more fields than the event has
    with pytest.raises(codec.CodecError):
        codec.head(b"\xc1", 1)  # not msgpack


def test_empty_values_before_the_first_sample() -> None:
    state = StateStage(Bus(), ["cpu", "fs", "uptime"])
    assert orjson.loads(state.all_json()) == {"cpu": {}, "fs": [], "uptime": ""}
    assert state.updated_at("cpu") is None


def test_sample_is_decoded_and_encoded_once_on_demand() -> None:
    state = StateStage(Bus(), ["cpu", "mem"])
    state.update_raw(stat("cpu", 1, {"total": 10.0}))
    assert state.updated_at("cpu") == 1001.0
    first = state.get_json("cpu")
    assert orjson.loads(first) == {"total": 10.0}
    assert state.get_json("cpu") is first  # cached, not re-encoded
    whole = state.all_json()
    assert state.all_json() is whole
    assert orjson.loads(whole) == {"cpu": {"total": 10.0}, "mem": {}}
    version = state.version
    state.update_raw(stat("cpu", 2, {"total": 20.0}))
    assert state.version == version + 1
    assert state.get("cpu") == {"total": 20.0}
    assert orjson.loads(state.all_json())["cpu"] == {"total": 20.0}


def test_unknown_plugins_and_other_events_are_ignored() -> None:
    state = StateStage(Bus(), ["cpu"])
    state.update_raw(stat("gpu", 1, [{"x": 1}]))
    state.update_raw(AlertEvent("opened", 1.0, {"type": "CPU_TOTAL"}).to_msgpack())
    assert state.version == 0
    assert state.get("cpu") == {}


async def test_runs_on_the_bus_and_survives_garbage() -> None:
    bus = Bus()
    state = StateStage(bus, ["cpu", "mem"])
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(state.run)
            await bus.publish_raw(STATS_TOPIC, b"\xc1garbage")
            await bus.publish_many(
                STATS_TOPIC, [stat("cpu", 1, {"total": 1.0}), stat("mem", 1, {"percent": 2})]
            )
            await state.wait_first_round()
            assert state.get("mem") == {"percent": 2}
            (sub,) = bus.subscribers()
            assert sub["delivered"] == 3 and sub["dropped"] == 0
            nursery.cancel_scope.cancel()


async def test_no_plugins_means_nothing_to_wait_for() -> None:
    with trio.fail_after(1):
        await StateStage(Bus(), []).wait_first_round()
