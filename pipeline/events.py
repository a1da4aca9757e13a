"""The events that travel on the bus.

Every event is a small frozen dataclass.  The bus carries bytes: a publisher encodes an
event once with :func:`pipeline.codec.encode`, and each subscriber decodes its own copy,
so no stage can mutate what another stage sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline import codec


class Event:
    """Base of all bus events: msgpack round trip through :mod:`pipeline.codec`."""

    __slots__ = ()

    def to_msgpack(self) -> bytes:
        return codec.encode(self)

    @staticmethod
    def from_msgpack(raw: bytes) -> Event:
        event: Event = codec.decode(raw)
        return event


@codec.register("stat")
@dataclass(frozen=True, slots=True)
class StatEvent(Event):
    """One sample of one plugin, in the Glances API v4 shape.

    ``ts`` is a UTC epoch float from the runner's clock; ``seq`` counts the samples of
    this plugin since start (1 for the first one).
    """

    plugin: str
    ts: float
    seq: int
    data: Any


@codec.register("views")
@dataclass(frozen=True, slots=True)
class ViewsEvent(Event):
    """The threshold stage's verdict on one ``StatEvent`` of ``plugin``.

    * ``views``: the reference view shape (``{field: view}``, or
      ``{key_value: {field: view}}`` for list plugins), each view
      ``{"decoration", "optional", "additional", "splittable", "hidden"}``;
    * ``alerts``: ``[[type, state, value], ...]``, one per evaluation whose log switch is
      on (reference ``glances_events.add``): ``type`` like ``"CPU_TOTAL"``, ``state`` one
      of ``OK``/``CAREFUL``/``WARNING``/``CRITICAL`` (no ``_LOG`` suffix), ``value`` the
      percent-normalised value;
    * ``levels``: ``{stat_name: 0..3}`` (OK..CRITICAL) of every evaluated stat with
      limits, e.g. ``{"cpu_user": 2, "load": 0}`` (the reference's ``glances_thresholds``,
      used for ``global_msg``).
    """

    plugin: str
    ts: float
    views: Any
    alerts: list[list[Any]]
    levels: dict[str, int]


@codec.register("alert")
@dataclass(frozen=True, slots=True)
class AlertEvent(Event):
    """One transition of the events list: ``transition`` is ``opened``, ``escalated``,
    ``closed`` or ``cleared``; ``event`` is the event in the ``/api/4/alert`` shape."""

    transition: str
    ts: float
    event: dict[str, Any]
