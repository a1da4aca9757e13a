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


class CodecError(ValueError):
    """Raised for bytes that are not an encoded, registered event."""


def register(tag: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a frozen dataclass encodable under ``tag``."""

    def decorate(cls: type[T]) -> type[T]:
        if tag in _BY_TAG and _BY_TAG[tag] is not cls:
            raise ValueError(f"event tag {tag!r} is already registered")
        _BY_TAG[tag] = cls
        _TAG_OF[cls] = tag
        return cls

    return decorate


def encode(event: Any) -> bytes:
    try:
        tag = _TAG_OF[type(event)]
    except KeyError:
        raise TypeError(f"{type(event).__name__} is not a registered event") from None
    values = [getattr(event, f.name) for f in dataclasses.fields(event)]
    packed: bytes = msgpack.packb([tag, *values], use_bin_type=True)
    return packed


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


def tag_of(cls: type[Any]) -> str:
    return _TAG_OF[cls]
