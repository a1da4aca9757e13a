"""In-process publish/subscribe bus on trio memory channels.

Each subscriber owns one bounded channel and declares a policy:

* ``LOSSLESS``: the publisher waits for room (alert stage, webhook queue).  Only use it
  for consumers that keep up; a slow lossless subscriber slows its publishers.
* ``LATEST_WINS``: when the channel is full the oldest queued event is dropped and
  counted, so a publisher never waits (API stream, MQTT stats, the state stage).

A subscriber that exits (normally, by cancellation or by an exception) leaves the bus
when its ``subscribe`` context closes; a channel found closed on publish is removed too.
Either way the other subscribers are untouched.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import trio

from pipeline import codec

T = TypeVar("T")

log = logging.getLogger(__name__)


class Policy(enum.Enum):
    LOSSLESS = "lossless"
    LATEST_WINS = "latest-wins"


def family_of(name: str) -> str:
    """A subscriber's family: its name before any ``#`` (one subscriber per stream
    client is named ``stream#<n>``)."""
    return name.partition("#")[0]


@dataclass
class SubscriberStats:
    """Counters of one subscriber, readable at any time."""

    name: str
    topic: str
    policy: Policy
    maxsize: int
    delivered: int = 0
    dropped: int = 0

    def as_dict(self, depth: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "topic": self.topic,
            "policy": self.policy.value,
            "maxsize": self.maxsize,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "depth": depth,
        }


@dataclass(eq=False)
class Subscription:
    """The receiving end of one subscriber: iterate it to get decoded events."""

    stats: SubscriberStats
    _send: trio.MemorySendChannel[bytes] = field(repr=False)
    _receive: trio.MemoryReceiveChannel[bytes] = field(repr=False)

    @property
    def depth(self) -> int:
        return self._receive.statistics().current_buffer_used

    async def receive_raw(self) -> bytes:
        raw = await self._receive.receive()
        self.stats.delivered += 1
        return raw

    def receive_raw_nowait(self) -> bytes:
        """The next queued event, or ``trio.WouldBlock`` (drain a burst in one wake-up)."""
        raw = self._receive.receive_nowait()
        self.stats.delivered += 1
        return raw

    def raw(self) -> _Receiving[bytes]:
        """``async for raw in sub.raw():`` the encoded events, until the subscription ends
        (for a stage that reads an event's head before deciding to decode it)."""
        return _Receiving(self.receive_raw)

    async def receive_batch(self) -> list[bytes]:
        """The next encoded event and every one already queued behind it: a burst (a
        round of samples) is taken in one wake-up, not one per event.  Raises
        ``trio.EndOfChannel`` / ``trio.ClosedResourceError`` as :meth:`receive_raw`."""
        batch = [await self.receive_raw()]
        while True:
            try:
                batch.append(self.receive_raw_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return batch  # (an end is reported by the next call)

    def batches(self) -> _Receiving[list[bytes]]:
        """``async for batch in sub.batches():`` lists of encoded events, each a burst
        taken in one wake-up (see :meth:`receive_batch`), until the subscription ends."""
        return _Receiving(self.receive_batch)

    async def consume_raw(self, take: Callable[[bytes], None]) -> None:
        """Hand every encoded event to ``take`` until the subscription ends; a burst
        queued while ``take`` ran is taken in one wake-up, not one per event."""
        while True:
            try:
                raw = await self.receive_raw()
                while True:
                    take(raw)
                    raw = self.receive_raw_nowait()
            except trio.WouldBlock:
                continue
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return

    async def receive(self) -> Any:
        return codec.decode(await self.receive_raw())

    # An iterator object, not an async generator: a consumer that leaves its loop early
    # (``break``, or an exception in the loop body) must not leave an unfinished async
    # generator for trio to finalize (and warn about) later.
    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None


class _Receiving(Generic[T]):
    """``async for``: what ``receive()`` gives, until the subscription ends (an iterator
    object, not an async generator, for the reason given in :class:`Subscription`)."""

    def __init__(self, receive: Callable[[], Awaitable[T]]) -> None:
        self._receive = receive

    def __aiter__(self) -> _Receiving[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None


class Bus:
    """Topics to subscribers.  Not thread-safe: use it from the trio thread only."""

    def __init__(self) -> None:
        self._topics: dict[str, list[Subscription]] = {}
        #: events published per topic since start (with or without subscribers)
        self.published: dict[str, int] = {}
        #: delivered and dropped counts of the subscribers that left, per
        #: ``(family, topic, policy)``; a family is the name before any ``#``
        #: (``stream#7`` is of ``stream``), so that its counters never go backwards
        self.retired: dict[tuple[str, str, str], list[int]] = {}

    @contextmanager
    def subscribe(
        self,
        topic: str,
        *,
        name: str,
        policy: Policy = Policy.LATEST_WINS,
        maxsize: int = 64,
    ) -> Iterator[Subscription]:
        """Subscribe for the duration of the ``with`` block."""
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        send, receive = trio.open_memory_channel[bytes](maxsize)
        sub = Subscription(SubscriberStats(name, topic, policy, maxsize), send, receive)
        self._topics.setdefault(topic, []).append(sub)
        try:
            yield sub
        finally:
            self._remove(topic, sub)

    def _remove(self, topic: str, sub: Subscription) -> None:
        subs = self._topics.get(topic, [])
        if sub in subs:
            subs.remove(sub)
            stats = sub.stats
            key = (family_of(stats.name), stats.topic, stats.policy.value)
            totals = self.retired.setdefault(key, [0, 0])
            totals[0] += stats.delivered
            totals[1] += stats.dropped
        sub._send.close()
        sub._receive.close()

    def subscribers(self) -> list[dict[str, Any]]:
        return [s.stats.as_dict(s.depth) for subs in self._topics.values() for s in subs]

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._topics.get(topic))

    async def publish(self, topic: str, event: Any) -> None:
        """Encode ``event`` once and hand the bytes to every subscriber of ``topic``
        (not encoded at all when ``topic`` has none)."""
        if not self._topics.get(topic):
            self.published[topic] = self.published.get(topic, 0) + 1
            codec.check(event)  # a bad event is still the publisher's error
            await trio.lowlevel.checkpoint()
            return
        await self.publish_raw(topic, codec.encode(event))

    async def publish_raw(self, topic: str, raw: bytes) -> None:
        await self.publish_many(topic, (raw,))

    async def publish_many(self, topic: str, raws: Iterable[bytes]) -> None:
        """Publish several encoded events in order, with one checkpoint at the end.

        A sampler round produces several plugins at once; handing them over together
        lets a subscriber take them in one wake-up instead of one per event.  A lossless
        subscriber with room is handed an event without a checkpoint: the publisher
        waits (and yields) only when one is full, so a round costs the scheduler one
        pass, not one per event and lossless subscriber.
        """
        for raw in raws:
            self.published[topic] = self.published.get(topic, 0) + 1
            for sub in list(self._topics.get(topic, ())):
                try:
                    if sub.stats.policy is Policy.LATEST_WINS:
                        self._offer(sub, raw)
                    else:
                        try:
                            sub._send.send_nowait(raw)
                        except trio.WouldBlock:
                            await sub._send.send(raw)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    log.info("bus: subscriber %s on %s is gone; removing it", sub.stats.name, topic)
                    self._remove(topic, sub)
        # Give subscribers a chance to run even when every send was non-blocking.
        await trio.lowlevel.checkpoint()

    @staticmethod
    def _offer(sub: Subscription, raw: bytes) -> None:
        try:
            sub._send.send_nowait(raw)
            return
        except trio.WouldBlock:
            pass
        # Full: drop the oldest queued event to make room for the newest.
        try:
            sub._receive.receive_nowait()
            sub.stats.dropped += 1
        except trio.WouldBlock:  # emptied meanwhile (cannot happen on one thread)
            pass
        sub._send.send_nowait(raw)
