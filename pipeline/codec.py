"""msgpack encoding of bus events, in one place.

An event is encoded as a msgpack array ``[tag, field1, field2, ...]`` with its dataclass
fields in declaration order.  Field values must be msgpack-native (dict, list, str,
bytes, int, float, bool, None); tuples come back as lists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import msgpack

T = TypeVar("T")

_BY_TAG: dict[str, type[Any]] = {}
_TAG_OF: dict[type[Any], str] = {}
_FIELDS: dict[type[Any], tuple[str, ...]] = {}


class CodecError(ValueError):
    """Raised for bytes that are not an encoded, registered event."""


def register(tag: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a frozen dataclass encodable under ``tag``."""

    def decorate(cls: type[T]) -> type[T]:
        if tag in _BY_TAG and _BY_TAG[tag] is not cls:
            raise ValueError(f"event tag {tag!r} is already registered")
        _BY_TAG[tag] = cls
        _TAG_OF[cls] = tag
        _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        return cls

    return decorate


def check(event: Any) -> None:
    """Raise ``TypeError`` unless ``event`` is of a registered event class."""
    if type(event) not in _TAG_OF:
        raise TypeError(f"{type(event).__name__} is not a registered event")


def encode(event: Any) -> bytes:
    cls = type(event)
    try:
        tag = _TAG_OF[cls]
    except KeyError:
        raise TypeError(f"{cls.__name__} is not a registered event") from None
    packed: bytes = msgpack.packb(
        [tag, *[getattr(event, name) for name in _FIELDS[cls]]], use_bin_type=True
    )
    return packed


def pack(cls: type[Any], *values: Any) -> bytes:
    """``encode(cls(*values))`` without making the event (a publisher that only sends
    it, e.g. the sampler runner, need not build a dataclass per sample)."""
    if len(values) != len(_FIELDS[cls]):
        raise TypeError(f"{cls.__name__} has {len(_FIELDS[cls])} fields, got {len(values)}")
    packed: bytes = msgpack.packb([_TAG_OF[cls], *values], use_bin_type=True)
    return packed


def prefix(cls: type[Any], *values: Any) -> bytes:
    """The first bytes of every encoded ``cls`` event whose first fields are ``values``:
    ``raw.startswith(prefix(StatEvent, "processlist"))`` picks one plugin's samples
    without unpacking anything (encoding is deterministic: same values, same bytes)."""
    packer = msgpack.Packer(use_bin_type=True)
    out: bytes = packer.pack_array_header(len(_FIELDS[cls]) + 1) + packer.pack(_TAG_OF[cls])
    return out + b"".join(packer.pack(v) for v in values)


def decode(raw: bytes) -> Any:
    try:
        tag, *values = msgpack.unpackb(raw, raw=False, strict_map_key=False)
        cls = _BY_TAG[tag]
        return cls(*values)
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise CodecError(f"cannot decode event: {exc}") from exc


def head(raw: bytes, count: int) -> tuple[str, list[Any]]:
    """The tag and the first ``count`` fields of an encoded event, without decoding the
    rest (a stage that only routes or stores events need not pay for their payload)."""
    try:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(raw)
        size = unpacker.read_array_header()
        if size < count + 1:
            raise ValueError(f"event has {size - 1} fields, wanted {count}")
        tag = unpacker.unpack()
        if tag not in _BY_TAG:
            raise KeyError(tag)
        return tag, [unpacker.unpack() for _ in range(count)]
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise CodecError(f"cannot decode event: {exc}") from exc


def fields(raw: bytes, cls: type[Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    """The fields ``names`` (in declaration order) of an encoded ``cls`` event; the other
    fields are skipped, not decoded (a stage that needs two small fields of an event
    need not build its payload)."""
    try:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(raw)
        declared = _FIELDS[cls]
        if unpacker.read_array_header() != len(declared) + 1:
            raise ValueError("not the fields of " + cls.__name__)
        if unpacker.unpack() != _TAG_OF[cls]:
            raise ValueError("not a " + cls.__name__)
        out = []
        for name in declared:
            if name in names:
                out.append(unpacker.unpack())
            else:
                unpacker.skip()
        if len(out) != len(names):
            raise KeyError(f"{cls.__name__} has no field among {names}")
        return tuple(out)
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise CodecError(f"cannot decode event: {exc}") from exc


def tag_of(cls: type[Any]) -> str:
    return _TAG_OF[cls]
