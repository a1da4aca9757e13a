"""The msgpack codec and the bus events: round trips and refusals."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest

from pipeline import codec
from pipeline.codec import CodecError
from pipeline.events import AlertEvent, Event, StatEvent, ViewsEvent

# A sample shaped like a Glances v4 "cpu" / "network" payload, with every msgpack-native
# type the samplers produce: nested dicts and lists, int keys, floats, None, bools,
# non-ASCII text and bytes.
CPU_DATA = {
    "total": 12.5,
    "user": 7.25,
    "ctx_switches": 123_456_789_012,
    "ctx_switches_rate_per_sec": 1500.0,
    "time_since_update": 2.000123,
    "cpucore": 8,
    "nice": None,
    "interrupts_gauge": 2**62,
    "negative": -42,
}
NETWORK_DATA = [
    {"interface_name": "eth0", "is_up": True, "speed": 1_000_000_000, "alias": None},
    {"interface_name": "wlan-café", "is_up": False, "raw": b"\x00\xff", "ids": [1, 2, 3]},
]


@pytest.mark.parametrize(
    "event",
    [
        StatEvent("cpu", 1_700_000_000.123456, 1, CPU_DATA),
        StatEvent("network", 1_700_000_002.5, 42, NETWORK_DATA),
        StatEvent("uptime", 0.0, 2**40, "3 days, 4:05:06"),
        StatEvent("percpu", 1.5, 7, {0: {"cpu_number": 0}, 1: {"cpu_number": 1}}),
        StatEvent("fs", 2.0, 1, []),
        ViewsEvent("cpu", 1_700_000_000.25, {"user": {"decoration": "OK"}}, [], {"cpu": 0}),
        AlertEvent("opened", 1_700_000_000.5, {"type": "CPU_TOTAL", "state": "WARNING"}),
    ],
    ids=["cpu-dict", "network-list", "uptime-str", "int-keys", "empty-list", "views", "alert"],
)
def test_event_round_trip_is_exact(event: Event) -> None:
    raw = event.to_msgpack()

    assert isinstance(raw, bytes)
    back = type(event).from_msgpack(raw)
    assert type(back) is type(event)
    assert back == event
    # Same thing through the codec module directly.
    assert codec.decode(codec.encode(event)) == event


def test_timestamp_keeps_full_double_precision() -> None:
    ts = 1_700_000_000.000_001
    back = StatEvent.from_msgpack(StatEvent("cpu", ts, 1, {}).to_msgpack())

    assert isinstance(back, StatEvent)
    assert back.ts == ts
    assert back.seq == 1 and isinstance(back.seq, int)


def test_tuples_come_back_as_lists() -> None:
    event = StatEvent("load", 1.0, 1, {"avg": (0.5, 0.25, 0.125)})

    back = StatEvent.from_msgpack(event.to_msgpack())

    assert isinstance(back, StatEvent)
    assert back.data == {"avg": [0.5, 0.25, 0.125]}


def test_decoded_copies_are_independent() -> None:
    raw = StatEvent("cpu", 1.0, 1, {"list": [1, 2]}).to_msgpack()

    a = StatEvent.from_msgpack(raw)
    b = StatEvent.from_msgpack(raw)
    assert isinstance(a, StatEvent) and isinstance(b, StatEvent)
    a.data["list"].append(3)

    assert b.data == {"list": [1, 2]}


def test_events_are_frozen() -> None:
    event = StatEvent("cpu", 1.0, 1, {})

    with pytest.raises(dataclasses.FrozenInstanceError):
        event.seq = 2  # type: ignore[misc]


GARBAGE = {
    "empty": b"",
    "reserved-byte": b"\xc1",
    "truncated": StatEvent("cpu", 1.0, 1, {"a": 1}).to_msgpack()[:-3],
    "trailing-bytes": StatEvent("cpu", 1.0, 1, {}).to_msgpack() + b"\x01",
    "not-an-array": msgpack.packb(5),
    "a-map": msgpack.packb({"stat": 1}),
    "empty-array": msgpack.packb([]),
    "unknown-tag": msgpack.packb(["no-such-event", 1, 2]),
    "unhashable-tag": msgpack.packb([["stat"], 1]),
    "too-few-fields": msgpack.packb(["stat", "cpu", 1.0]),
    "too-many-fields": msgpack.packb(["stat", "cpu", 1.0, 1, {}, "extra"]),
    "bad-utf8": b"\x92\xa4stat\xa2\xff\xfe",
    "text-not-msgpack": b"GET /api/4/all HTTP/1.1\r\n",
}


@pytest.mark.parametrize("raw", GARBAGE.values(), ids=GARBAGE.keys())
def test_decoding_garbage_raises_codec_error(raw: bytes) -> None:
    with pytest.raises(CodecError, match="cannot decode event"):
        codec.decode(raw)
    with pytest.raises(CodecError):
        Event.from_msgpack(raw)


def test_codec_error_is_a_value_error() -> None:
    # Callers that only know "bad input" can catch ValueError.
    with pytest.raises(ValueError):
        codec.decode(b"\xc1")


@dataclasses.dataclass(frozen=True, slots=True)
class NotRegistered:
    plugin: str


@pytest.mark.parametrize(
    "value", [NotRegistered("cpu"), {"plugin": "cpu"}, ("stat", "cpu", 1.0, 1, {}), None]
)
def test_encoding_an_unregistered_type_raises_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="is not a registered event"):
        codec.encode(value)


def test_a_tag_cannot_be_taken_by_another_class() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Impostor:
        plugin: str
        ts: float
        seq: int
        data: object

    with pytest.raises(ValueError, match="already registered"):
        codec.register("stat")(Impostor)

    # The failed registration changed nothing: "stat" still decodes to StatEvent and
    # the impostor still cannot be encoded.
    assert type(codec.decode(StatEvent("cpu", 1.0, 1, {}).to_msgpack())) is StatEvent
    with pytest.raises(TypeError):
        codec.encode(Impostor("cpu", 1.0, 1, {}))


def test_registering_the_same_class_again_is_harmless() -> None:
    assert codec.register("stat")(StatEvent) is StatEvent
    assert codec.decode(StatEvent("cpu", 1.0, 1, {}).to_msgpack()) == StatEvent("cpu", 1.0, 1, {})


def test_pack_is_encode_without_the_event() -> None:
    for event in (
        StatEvent("cpu", 1_700_000_000.123456, 1, CPU_DATA),
        StatEvent("network", 2.5, 42, NETWORK_DATA),
    ):
        assert codec.pack(StatEvent, *dataclasses.astuple(event)) == event.to_msgpack()
    with pytest.raises(TypeError):
        codec.pack(StatEvent, "cpu", 1.0, 1)


def test_prefix_matches_exactly_the_events_starting_with_those_fields() -> None:
    processlist = codec.prefix(StatEvent, "processlist")
    assert StatEvent("processlist", 1.0, 3, [{"pid": 1}]).to_msgpack().startswith(processlist)
    for other in (
        StatEvent("processcount", 1.0, 3, {}),
        StatEvent("processlist2", 1.0, 3, []),
        StatEvent("process", 1.0, 3, []),
        ViewsEvent("processlist", 1.0, {}, [], {}),
    ):
        assert not other.to_msgpack().startswith(processlist)
    long_name = "x" * 40  # past msgpack's fixstr
    assert (
        StatEvent(long_name, 1.0, 1, None)
        .to_msgpack()
        .startswith(codec.prefix(StatEvent, long_name))
    )


def test_fields_decodes_only_the_named_fields() -> None:
    raw = StatEvent("network", 2.5, 42, NETWORK_DATA).to_msgpack()
    assert codec.fields(raw, StatEvent, ("plugin", "seq")) == ("network", 42)
    assert codec.fields(raw, StatEvent, ("data",)) == (NETWORK_DATA,)
    with pytest.raises(CodecError):
        codec.fields(raw, AlertEvent, ("transition",))
    with pytest.raises(CodecError):
        codec.fields(raw, StatEvent, ("nope",))
    with pytest.raises(CodecError):
        codec.fields(b"\x93\xa4stat", StatEvent, ("plugin",))
