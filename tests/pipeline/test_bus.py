"""The in-process bus: fan-out, policies, counters and subscribers that go away."""

from __future__ import annotations

import gc
import warnings
from typing import Any

import pytest
import trio
import trio.testing

from pipeline.bus import Bus, Policy, Subscription
from pipeline.events import StatEvent

TOPIC = "stats"


def ev(seq: int, **data: Any) -> StatEvent:
    return StatEvent("cpu", 1_700_000_000.0 + seq, seq, {"total": float(seq), **data})


def counters(bus: Bus) -> dict[str, dict[str, Any]]:
    """``bus.subscribers()`` keyed by subscriber name."""
    return {s["name"]: s for s in bus.subscribers()}


async def drain(sub: Subscription) -> list[Any]:
    """Everything already queued for ``sub``, without waiting for more."""
    out = []
    while sub.depth:
        out.append(await sub.receive())
    return out


async def test_every_subscriber_gets_every_event_in_order(autojump_clock: Any) -> None:
    bus = Bus()
    with (
        bus.subscribe(TOPIC, name="lossless", policy=Policy.LOSSLESS, maxsize=8) as a,
        bus.subscribe(TOPIC, name="latest", policy=Policy.LATEST_WINS, maxsize=8) as b,
        bus.subscribe(TOPIC, name="default", maxsize=8) as c,
    ):
        with trio.fail_after(1):
            for seq in range(1, 6):
                await bus.publish(TOPIC, ev(seq))

            for sub in (a, b, c):
                assert await drain(sub) == [ev(seq) for seq in range(1, 6)]

        stats = counters(bus)
        assert {n: (s["delivered"], s["dropped"], s["depth"]) for n, s in stats.items()} == {
            "lossless": (5, 0, 0),
            "latest": (5, 0, 0),
            "default": (5, 0, 0),
        }


async def test_each_subscriber_decodes_its_own_copy(autojump_clock: Any) -> None:
    bus = Bus()
    original = ev(1, cores=[0, 1])
    with (
        bus.subscribe(TOPIC, name="a", policy=Policy.LOSSLESS) as a,
        bus.subscribe(TOPIC, name="b", policy=Policy.LATEST_WINS) as b,
    ):
        with trio.fail_after(1):
            await bus.publish(TOPIC, original)
            got_a = await a.receive()
            got_b = await b.receive()

    assert got_a == got_b == original
    assert got_a is not got_b and got_a.data is not got_b.data
    got_a.data["cores"].append(99)
    got_a.data["total"] = -1.0
    # Neither the other subscriber's copy nor the publisher's event changed.
    assert got_b.data == {"total": 1.0, "cores": [0, 1]}
    assert original.data == {"total": 1.0, "cores": [0, 1]}


async def test_raw_bytes_are_handed_over_unchanged(autojump_clock: Any) -> None:
    bus = Bus()
    raw = ev(3).to_msgpack()
    with bus.subscribe(TOPIC, name="a") as a:
        with trio.fail_after(1):
            await bus.publish_raw(TOPIC, raw)
            assert await a.receive_raw() == raw


async def test_topics_are_separate(autojump_clock: Any) -> None:
    bus = Bus()
    with (
        bus.subscribe("stats", name="stats-reader") as stats,
        bus.subscribe("views", name="views-reader") as views,
    ):
        with trio.fail_after(1):
            await bus.publish("stats", ev(1))
            await bus.publish("alerts", ev(2))  # nobody listens: not an error

        assert await drain(stats) == [ev(1)]
        assert await drain(views) == []
        assert {s["name"]: s["topic"] for s in bus.subscribers()} == {
            "stats-reader": "stats",
            "views-reader": "views",
        }


async def test_subscriber_description(autojump_clock: Any) -> None:
    bus = Bus()
    with bus.subscribe("alerts", name="webhook", policy=Policy.LOSSLESS, maxsize=16):
        assert bus.subscribers() == [
            {
                "name": "webhook",
                "topic": "alerts",
                "policy": "lossless",
                "maxsize": 16,
                "delivered": 0,
                "dropped": 0,
                "depth": 0,
            }
        ]


def test_maxsize_below_one_is_refused() -> None:
    bus = Bus()
    with pytest.raises(ValueError, match="maxsize"):
        with bus.subscribe(TOPIC, name="x", maxsize=0):
            pass  # pragma: no cover
    assert bus.subscribers() == []


async def test_latest_wins_never_blocks_and_keeps_the_newest(autojump_clock: Any) -> None:
    bus = Bus()
    with (
        bus.subscribe(TOPIC, name="stalled", policy=Policy.LATEST_WINS, maxsize=2) as stalled,
        bus.subscribe(TOPIC, name="reader", policy=Policy.LATEST_WINS, maxsize=100) as reader,
    ):
        # Nobody reads "stalled".  Were publish to wait for room, the autojump clock
        # would run straight into this deadline.
        with trio.fail_after(0.001):
            for seq in range(1, 11):
                await bus.publish(TOPIC, ev(seq))

        stats = counters(bus)
        assert (stats["stalled"]["depth"], stats["stalled"]["dropped"]) == (2, 8)
        assert stats["stalled"]["delivered"] == 0
        assert (stats["reader"]["depth"], stats["reader"]["dropped"]) == (10, 0)

        assert await drain(stalled) == [ev(9), ev(10)]
        assert await drain(reader) == [ev(seq) for seq in range(1, 11)]
        stats = counters(bus)
        assert (stats["stalled"]["delivered"], stats["stalled"]["dropped"]) == (2, 8)
        assert stats["stalled"]["depth"] == 0


async def test_latest_wins_behind_a_slow_reader_still_gets_the_latest(
    autojump_clock: Any,
) -> None:
    """A reader taking 4.8 s per event sees the newest sample next, not a backlog."""
    bus = Bus()
    seen: list[tuple[float, int]] = []
    with bus.subscribe(TOPIC, name="slow", policy=Policy.LATEST_WINS, maxsize=1) as sub:

        async def slow_reader() -> None:
            async for event in sub:
                seen.append((trio.current_time() - t0, event.seq))
                await trio.sleep(4.8)

        with trio.fail_after(60):
            t0 = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(slow_reader)
                for seq in range(1, 21):  # sample `seq` published at t = seq - 0.5
                    await trio.sleep(0.5 if seq == 1 else 1)
                    await bus.publish(TOPIC, ev(seq))
                await trio.sleep(10)
                nursery.cancel_scope.cancel()

        stats = counters(bus)["slow"]

    # Each read takes what was published last before it: floor(t + 0.5).
    assert seen == [
        (pytest.approx(0.5), 1),
        (pytest.approx(5.3), 5),
        (pytest.approx(10.1), 10),
        (pytest.approx(14.9), 15),
        (pytest.approx(19.7), 20),
    ]
    assert (stats["delivered"], stats["dropped"], stats["depth"]) == (5, 15, 0)


async def test_lossless_makes_the_publisher_wait(autojump_clock: Any) -> None:
    bus = Bus()
    published = 0
    with (
        bus.subscribe(TOPIC, name="alerts", policy=Policy.LOSSLESS, maxsize=2) as slow,
        bus.subscribe(TOPIC, name="stream", policy=Policy.LATEST_WINS, maxsize=100) as fast,
    ):

        async def publisher() -> None:
            nonlocal published
            for seq in range(1, 6):
                await bus.publish(TOPIC, ev(seq))
                published += 1

        with trio.fail_after(7200):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(publisher)
                await trio.testing.wait_all_tasks_blocked()
                # Two fit in the buffer; the third waits for room.
                assert published == 2
                assert counters(bus)["alerts"]["depth"] == 2

                # Time passing does not help: only reading does.
                await trio.sleep(3600)
                assert published == 2

                assert await slow.receive() == ev(1)
                await trio.testing.wait_all_tasks_blocked()
                assert published == 3

                rest = [await slow.receive() for _ in range(4)]
                assert rest == [ev(seq) for seq in range(2, 6)]

        assert published == 5
        stats = counters(bus)
        assert (stats["alerts"]["delivered"], stats["alerts"]["dropped"]) == (5, 0)
        assert await drain(fast) == [ev(seq) for seq in range(1, 6)]


async def test_cancelled_subscriber_is_removed_and_others_keep_receiving(
    autojump_clock: Any,
) -> None:
    bus = Bus()
    got_doomed: list[int] = []
    with bus.subscribe(TOPIC, name="survivor", policy=Policy.LATEST_WINS, maxsize=100) as keep:

        async def doomed(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
            # A lossless subscriber that never reads: left on the bus it would block
            # every publish once its one slot is taken.
            with trio.CancelScope() as scope:
                with bus.subscribe(TOPIC, name="doomed", policy=Policy.LOSSLESS, maxsize=1) as s:
                    task_status.started(scope)
                    got_doomed.append((await s.receive()).seq)
                    await trio.sleep_forever()

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                scope = await nursery.start(doomed)
                assert set(counters(bus)) == {"survivor", "doomed"}
                await bus.publish(TOPIC, ev(1))
                await trio.testing.wait_all_tasks_blocked()
                assert got_doomed == [1]

                scope.cancel()
                await trio.testing.wait_all_tasks_blocked()

            assert set(counters(bus)) == {"survivor"}
            for seq in range(2, 10):
                await bus.publish(TOPIC, ev(seq))

        assert got_doomed == [1]
        assert await drain(keep) == [ev(seq) for seq in range(1, 10)]


async def test_subscriber_cancelled_while_the_publisher_waits_on_it(
    autojump_clock: Any,
) -> None:
    """A blocked lossless send is released when its subscriber goes away."""
    bus = Bus()
    with bus.subscribe(TOPIC, name="survivor", policy=Policy.LATEST_WINS, maxsize=100) as keep:
        done = trio.Event()

        async def stuck_subscriber(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
            with trio.CancelScope() as scope:
                with bus.subscribe(TOPIC, name="stuck", policy=Policy.LOSSLESS, maxsize=1):
                    task_status.started(scope)
                    await trio.sleep_forever()

        async def publisher() -> None:
            for seq in range(1, 4):
                await bus.publish(TOPIC, ev(seq))
            done.set()

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                scope = await nursery.start(stuck_subscriber)
                nursery.start_soon(publisher)
                await trio.testing.wait_all_tasks_blocked()
                assert not done.is_set()  # waiting for "stuck" to make room

                scope.cancel()
                await done.wait()

        assert set(counters(bus)) == {"survivor"}
        assert await drain(keep) == [ev(1), ev(2), ev(3)]


async def test_subscriber_that_dies_is_removed_and_others_keep_receiving(
    autojump_clock: Any,
) -> None:
    bus = Bus()

    async def crashing_subscriber(task_status: trio.TaskStatus[None]) -> None:
        with bus.subscribe(TOPIC, name="crashy", policy=Policy.LOSSLESS, maxsize=1) as s:
            task_status.started()
            async for event in s:
                if event.seq == 2:
                    raise RuntimeError("stage bug")

    crashes: list[BaseException] = []
    with bus.subscribe(TOPIC, name="survivor", policy=Policy.LOSSLESS, maxsize=100) as keep:
        with trio.fail_after(10):
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(crashing_subscriber)
                    for seq in range(1, 3):
                        await bus.publish(TOPIC, ev(seq))
            except* RuntimeError as group:
                crashes.extend(group.exceptions)

            assert [str(e) for e in crashes] == ["stage bug"]
            assert set(counters(bus)) == {"survivor"}
            # "crashy" had a one-slot lossless channel: still subscribed, it would
            # block the second of these publishes for ever.
            for seq in range(3, 6):
                await bus.publish(TOPIC, ev(seq))

        assert await drain(keep) == [ev(seq) for seq in range(1, 6)]


@pytest.mark.parametrize("policy", list(Policy))
async def test_closed_receive_channel_is_removed_on_next_publish(
    autojump_clock: Any, policy: Policy
) -> None:
    bus = Bus()
    with (
        bus.subscribe(TOPIC, name="closed", policy=policy, maxsize=1) as closed,
        bus.subscribe(TOPIC, name="open", policy=policy, maxsize=100) as still_open,
    ):
        # A consumer that shut its end (the bus exposes no other way to do it).
        closed._receive.close()

        with trio.fail_after(1):
            for seq in range(1, 4):
                await bus.publish(TOPIC, ev(seq))

        assert set(counters(bus)) == {"open"}
        assert await drain(still_open) == [ev(1), ev(2), ev(3)]
    # Leaving the block after the bus already dropped the subscriber is fine.
    assert bus.subscribers() == []


async def test_leaving_the_block_unsubscribes(autojump_clock: Any) -> None:
    bus = Bus()
    with bus.subscribe(TOPIC, name="a") as a:
        pass
    with bus.subscribe(TOPIC, name="b") as b:
        assert [s["name"] for s in bus.subscribers()] == ["b"]
        with trio.fail_after(1):
            await bus.publish(TOPIC, ev(1))
            assert await b.receive() == ev(1)
    assert bus.subscribers() == []
    # The old subscription's iterator just ends; it does not hang or raise.
    with trio.fail_after(1):
        assert [e async for e in a] == []


async def test_breaking_out_of_a_subscription_loop_leaks_nothing(
    autojump_clock: Any,
) -> None:
    """``async for ... break`` must not leave an unfinished async generator behind.

    Trio warns (ResourceWarning) about an async generator collected before it was
    exhausted; with ``filterwarnings = error`` that fails the consumer's tests, and in
    production it is noise on every early exit from a subscription loop.
    """
    bus = Bus()
    with bus.subscribe(TOPIC, name="a", maxsize=8) as sub:
        with trio.fail_after(1):
            for seq in range(1, 4):
                await bus.publish(TOPIC, ev(seq))

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                async for event in sub:
                    first = event
                    break
                gc.collect()
                # The loop can be resumed from where it stopped.
                async for event in sub:
                    second = event
                    break
                gc.collect()

    assert (first, second) == (ev(1), ev(2))
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_raw_iteration_yields_bytes_until_the_subscription_closes() -> None:
    bus = Bus()
    got: list[bytes] = []
    with trio.fail_after(5):
        with bus.subscribe("t", name="raw", policy=Policy.LOSSLESS, maxsize=4) as sub:
            await bus.publish_raw("t", b"one")
            await bus.publish_raw("t", b"two")
            sub._send.close()  # the publisher side ends: iteration stops, no error
            async for raw in sub.raw():
                got.append(raw)
    assert got == [b"one", b"two"]


class _Passes(trio.abc.Instrument):
    """Counts the scheduler's passes (one I/O poll each)."""

    def __init__(self) -> None:
        self.count = 0

    def before_io_wait(self, timeout: float) -> None:
        self.count += 1


async def test_a_round_published_together_is_taken_in_one_wake_up() -> None:
    """publish_many hands a lossless subscriber with room every event without yielding,
    and receive_batch takes them all at once: a round of 20 samples costs the scheduler
    a pass or two, not one per event and subscriber."""
    bus = Bus()
    batches: list[list[bytes]] = []
    raws = [ev(seq).to_msgpack() for seq in range(1, 21)]
    with (
        bus.subscribe(TOPIC, name="a", policy=Policy.LOSSLESS, maxsize=64) as a,
        bus.subscribe(TOPIC, name="b", policy=Policy.LOSSLESS, maxsize=64) as b,
    ):
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:

                async def take(sub: Subscription) -> None:
                    async for batch in sub.batches():
                        batches.append(batch)

                nursery.start_soon(take, a)
                nursery.start_soon(take, b)
                await trio.testing.wait_all_tasks_blocked()
                passes = _Passes()
                trio.lowlevel.add_instrument(passes)
                await bus.publish_many(TOPIC, raws)
                await trio.testing.wait_all_tasks_blocked()
                trio.lowlevel.remove_instrument(passes)
                nursery.cancel_scope.cancel()
    assert batches == [raws, raws]
    assert passes.count <= 3
    assert {s["name"]: s["delivered"] for s in bus.subscribers()} == {}  # gone
    assert (a.stats.delivered, b.stats.delivered) == (20, 20)


async def test_publish_many_still_waits_for_a_full_lossless_subscriber(
    autojump_clock: Any,
) -> None:
    bus = Bus()
    raws = [ev(seq).to_msgpack() for seq in range(1, 6)]
    done = False
    with bus.subscribe(TOPIC, name="slow", policy=Policy.LOSSLESS, maxsize=2) as slow:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:

                async def publisher() -> None:
                    nonlocal done
                    await bus.publish_many(TOPIC, raws)
                    done = True

                nursery.start_soon(publisher)
                await trio.testing.wait_all_tasks_blocked()
                assert not done and slow.depth == 2
                got: list[bytes] = []
                while len(got) < len(raws):
                    got += await slow.receive_batch()
                    await trio.testing.wait_all_tasks_blocked()
    assert done and got == raws


async def test_batches_end_with_the_subscription() -> None:
    bus = Bus()
    got: list[list[bytes]] = []
    with trio.fail_after(5):
        with bus.subscribe("t", name="raw", policy=Policy.LOSSLESS, maxsize=4) as sub:
            await bus.publish_many("t", [b"one", b"two"])
            await bus.publish_raw("t", b"three")
            sub._send.close()
            async for batch in sub.batches():
                got.append(batch)
    assert got == [[b"one", b"two", b"three"]]


async def test_publishing_to_a_topic_without_subscribers_encodes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline import codec

    bus = Bus()
    encoded: list[Any] = []
    real = codec.encode
    monkeypatch.setattr(codec, "encode", lambda e: encoded.append(e) or real(e))
    await bus.publish("nobody", ev(1))
    assert encoded == []
    with pytest.raises(TypeError):
        await bus.publish("nobody", object())
    with bus.subscribe("somebody", name="s") as sub:
        await bus.publish("somebody", ev(2))
        assert await sub.receive() == ev(2)
    assert encoded == [ev(2)]


async def test_published_counts_every_event_per_topic_with_or_without_subscribers(
    autojump_clock: Any,
) -> None:
    bus = Bus()
    event = StatEvent("cpu", 1.0, 1, {"total": 1.0})
    await bus.publish("stats", event)  # nobody listens: still published
    with bus.subscribe("stats", name="s", policy=Policy.LATEST_WINS, maxsize=1):
        await bus.publish_many("stats", [event.to_msgpack(), event.to_msgpack()])
        await bus.publish("views", event)
    assert bus.published == {"stats": 3, "views": 1}
