"""The webhook sink against real HTTP receivers on loopback (h11 on trio).

Real sockets need the real clock; the timer logic (repeat_interval) is tested with a
mock clock and an in-memory transport in ``test_webhook_filters.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio

from api.main import api_urls, serve
from pipeline import config as cfg
from pipeline.bus import Bus
from sinks.webhook_payloads import ZERO_TIME, fingerprint, verify
from sinks.webhooks import PENDING_FILE, WebhookSink
from tests.polling import until
from tests.sinks.webhook_helpers import (
    EPOCH,
    HANG,
    HttpReceiver,
    event,
    free_port,
    publish,
    webhook_config,
)

HOST = "box1"


def saved_pending(data: Path) -> list[Any] | None:
    """The deliveries saved for ``webhook1`` (``None`` before the first save)."""
    try:
        saved = orjson.loads((data / PENDING_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    pending: list[Any] = saved["receivers"].get("webhook1", [])
    return pending


async def start_sink(nursery: trio.Nursery, bus: Bus, config: cfg.Config) -> WebhookSink:
    sink = WebhookSink(bus, config, hostname=HOST)
    await nursery.start(sink.run)
    return sink


async def test_statbus_format_field_by_field_and_signature(tmp_path: Path) -> None:
    receiver = HttpReceiver()
    bus = Bus()
    config = webhook_config(tmp_path, {"url": receiver.url, "secret": "s3cret"})
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.serve)
        sink = await start_sink(nursery, bus, config)
        before = time.time()
        await publish(bus, "opened", event())
        (got,) = await receiver.wait_for(1)
        await until(lambda: sink.as_dict()["webhook1"]["sent"] == 1)
        nursery.cancel_scope.cancel()
    assert got.path == "/hook"
    assert got.headers["content-type"] == "application/json"
    assert len(got.headers["x-statbus-delivery"]) == 32
    body = got.json()
    assert set(body) == {"host", "transition", "fingerprint", "event", "sent_at"}
    assert body["host"] == HOST
    assert body["transition"] == "opened"
    assert body["event"] == event()
    assert body["fingerprint"] == fingerprint(HOST, "CPU_TOTAL", EPOCH)
    assert len(body["fingerprint"]) == 16
    assert before <= body["sent_at"] <= time.time()
    # the receiver's side: the HMAC of "<t>.<raw body>" with the shared secret
    header = got.headers["x-statbus-signature"]
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    mac = hmac.new(b"s3cret", f"{t}.".encode() + got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, v1)
    assert verify("s3cret", got.body, header, now=time.time())
    tampered = got.body.replace(b"CPU_TOTAL", b"CPU_TOTAK")
    assert not verify("s3cret", tampered, header, now=time.time())
    assert not verify("wrong", got.body, header, now=time.time())
    assert not verify("s3cret", got.body, header, now=time.time() + 3600)  # replayed late


async def test_alertmanager_format_firing_then_resolved(tmp_path: Path) -> None:
    receiver = HttpReceiver()
    bus = Bus()
    config = webhook_config(
        tmp_path,
        {"url": receiver.url, "format": "alertmanager", "name": "chat", "headers": {"X-A": "1"}},
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.serve)
        await start_sink(nursery, bus, config)
        await publish(bus, "opened", event(state="CRITICAL"))
        await publish(bus, "closed", event(state="CRITICAL", end=EPOCH + 90.0))
        firing, resolved = await receiver.wait_for(2)
        nursery.cancel_scope.cancel()
    assert firing.headers["x-a"] == "1"
    assert "x-statbus-signature" not in firing.headers  # no secret, no signature
    fp = fingerprint(HOST, "CPU_TOTAL", EPOCH)
    labels = {"alertname": "CPU_TOTAL", "host": HOST, "severity": "critical"}
    annotations = {
        "description": "CPU_TOTAL CRITICAL: max 92.5, avg 81.8",
        "global_msg": "High CPU user mode",
        "top": "python3, cc1",
    }
    assert firing.json() == {
        "version": "4",
        "groupKey": '{}:{alertname="CPU_TOTAL", host="box1"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "chat",
        "groupLabels": {"alertname": "CPU_TOTAL", "host": HOST},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": "2023-11-14T22:13:20Z",
                "endsAt": ZERO_TIME,
                "generatorURL": "",
                "fingerprint": fp,
            }
        ],
    }
    body = resolved.json()
    assert body["status"] == "resolved"
    (alert,) = body["alerts"]
    assert alert["status"] == "resolved"
    assert alert["startsAt"] == "2023-11-14T22:13:20Z"
    assert alert["endsAt"] == "2023-11-14T22:14:50Z"
    assert alert["fingerprint"] == fp


async def test_500_twice_then_200_is_delivered_once_with_backoff(tmp_path: Path) -> None:
    receiver = HttpReceiver(script=[(500, {}, b"oops"), (503, {}, b"busy")])
    bus = Bus()
    hook = {"url": receiver.url, "backoff_initial": 0.2, "backoff_max": 5.0}
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.serve)
        sink = await start_sink(nursery, bus, webhook_config(tmp_path, hook))
        await publish(bus, "opened", event())
        await receiver.wait_for(3)
        await until(lambda: sink.as_dict()["webhook1"]["sent"] == 1)
        await trio.sleep(0.3)  # no fourth attempt
        nursery.cancel_scope.cancel()
    first, second, third = receiver.requests
    assert len(receiver.requests) == 3
    assert first.headers["x-statbus-delivery"] == third.headers["x-statbus-delivery"]
    # 0.2 s, then 0.4 s, ± 25% (never sooner; the exact delays in virtual time are in
    # test_webhook_filters.py, the upper bounds here are only a safety net)
    assert 0.15 <= second.at - first.at < 5
    assert 0.3 <= third.at - second.at < 5
    stats = sink.as_dict()["webhook1"]
    assert (stats["sent"], stats["retried"], stats["failed"], stats["pending"]) == (1, 2, 0, 0)
    assert stats["last_error"] == "HTTP 503" and stats["last_success"] is not None


async def test_429_retry_after_is_honoured(tmp_path: Path) -> None:
    receiver = HttpReceiver(script=[(429, {"Retry-After": "2"}, b"slow down")])
    bus = Bus()
    hook = {"url": receiver.url, "backoff_initial": 0.05}
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.serve)
        sink = await start_sink(nursery, bus, webhook_config(tmp_path, hook))
        await publish(bus, "opened", event())
        first, second = await receiver.wait_for(2, within=6)
        await until(lambda: sink.as_dict()["webhook1"]["sent"] == 1)
        nursery.cancel_scope.cancel()
    assert 1.9 <= second.at - first.at < 10  # never sooner than asked


async def test_400_is_not_retried_and_the_queue_moves_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = HttpReceiver(script=[(400, {}, b"bad field: severity")])
    bus = Bus()
    hook = {"url": receiver.url, "backoff_initial": 0.05}
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.serve)
        sink = await start_sink(nursery, bus, webhook_config(tmp_path, hook))
        with caplog.at_level(logging.WARNING, logger="sinks.webhooks"):
            await publish(bus, "opened", event())
            await publish(bus, "opened", event(type_="LOAD"))
            first, second = await receiver.wait_for(2)
            await until(lambda: sink.as_dict()["webhook1"]["sent"] == 1)
            await trio.sleep(0.3)  # no retry of the 400
        nursery.cancel_scope.cancel()
    assert len(receiver.requests) == 2
    assert first.json()["event"]["type"] == "CPU_TOTAL"
    assert second.json()["event"]["type"] == "LOAD"
    stats = sink.as_dict()["webhook1"]
    assert (stats["sent"], stats["failed"], stats["retried"]) == (1, 1, 0)
    assert "HTTP 400" in caplog.text and "bad field: severity" in caplog.text


async def test_receiver_down_at_first_gets_it_once_up(tmp_path: Path) -> None:
    receiver = HttpReceiver()
    bus = Bus()
    hook = {"url": receiver.url, "backoff_initial": 0.1, "backoff_max": 0.3, "max_attempts": 50}
    async with trio.open_nursery() as nursery:
        sink = await start_sink(nursery, bus, webhook_config(tmp_path, hook))
        await publish(bus, "opened", event())
        await until(lambda: sink.as_dict()["webhook1"]["retried"] >= 1)
        stats = sink.as_dict()["webhook1"]
        assert stats["pending"] == 1
        assert stats["last_error"].startswith("ConnectError")
        await nursery.start(receiver.serve)
        (got,) = await receiver.wait_for(1)
        await until(lambda: sink.as_dict()["webhook1"]["sent"] == 1)
        nursery.cancel_scope.cancel()
    assert got.json()["transition"] == "opened"


async def test_a_hanging_receiver_delays_neither_the_other_nor_the_bus(tmp_path: Path) -> None:
    hanging = HttpReceiver(script=[HANG] * 10)
    prompt = HttpReceiver()
    bus = Bus()
    config = webhook_config(
        tmp_path,
        # it hangs for longer than the test: whatever reaches the other receiver did
        # not wait for it
        {"url": hanging.url, "name": "slow", "timeout": 300.0, "queue_size": 5},
        {"url": prompt.url, "name": "fast"},
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(hanging.serve)
        await nursery.start(prompt.serve)
        sink = await start_sink(nursery, bus, config)
        # more transitions than the sink's bus subscription holds (64): a sink that
        # waited on a receiver would block this publishing
        with trio.fail_after(1):  # the alert stage's publish never waits on a receiver
            for i in range(100):
                await publish(bus, "opened", event(begin=EPOCH + i))
        got = await prompt.wait_for(100, within=30)
        await hanging.wait_for(1)
        await until(lambda: sink.as_dict()["slow"]["dropped"] == 94)
        nursery.cancel_scope.cancel()
    assert [r.json()["event"]["begin"] for r in got] == [EPOCH + i for i in range(100)]
    slow = sink.as_dict()["slow"]
    assert slow["sent"] == 0 and slow["dropped"] == 94  # 100 - 1 in flight - 5 queued
    assert slow["pending"] == 6


async def test_pending_deliveries_are_sent_after_a_restart_in_order(tmp_path: Path) -> None:
    port = free_port()
    hook = {
        "url": f"http://127.0.0.1:{port}/hook",
        "backoff_initial": 0.05,
        "backoff_max": 0.1,
        "max_attempts": 100,
    }
    config = webhook_config(tmp_path, hook)
    bus = Bus()
    async with trio.open_nursery() as nursery:
        await start_sink(nursery, bus, config)
        for i in range(3):
            await publish(bus, "opened", event(begin=EPOCH + i))
        await until(lambda: len(saved_pending(tmp_path) or []) == 3)
        nursery.cancel_scope.cancel()
    saved = orjson.loads((tmp_path / PENDING_FILE).read_bytes())
    ids = [d["id"] for d in saved["receivers"]["webhook1"]]  # by receiver name
    assert len(ids) == 3

    receiver = HttpReceiver(port=port)
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.serve)
        sink = await start_sink(nursery, Bus(), config)
        got = await receiver.wait_for(3)
        await until(lambda: saved_pending(tmp_path) == [])
        nursery.cancel_scope.cancel()
    assert [r.json()["event"]["begin"] for r in got] == [EPOCH, EPOCH + 1, EPOCH + 2]
    assert [r.headers["x-statbus-delivery"] for r in got] == ids
    assert sink.as_dict()["webhook1"]["pending"] == 0
    assert orjson.loads((tmp_path / PENDING_FILE).read_bytes())["receivers"]["webhook1"] == []


async def test_counters_are_served_by_the_pipeline_route(tmp_path: Path) -> None:
    receiver = HttpReceiver()
    config = cfg.from_mapping(
        {
            "global": {"data_dir": str(tmp_path), "sampler_timeout": 1.0},
            "api": {"port": 0},
            "webhooks": [{"url": receiver.url, "name": "ops", "secret": "x"}],
        }
    )
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(receiver.serve)
            running = await nursery.start(partial(serve, config, specs=[]))
            await publish(running.bus, "opened", event())
            await receiver.wait_for(1)
            base = api_urls(running, config)[0]
            async with httpx.AsyncClient(timeout=10) as client:

                async def sent() -> Any:  # once the 200 has reached the sink
                    got = (await client.get(f"{base}/pipeline")).json()
                    return got if got["sinks"]["webhooks"]["ops"]["sent"] else None

                body = await until(sent)
            running.shutdown.set()
            nursery.cancel_scope.cancel()
    ops = body["sinks"]["webhooks"]["ops"]
    assert ops["url"] == f"http://127.0.0.1:{receiver.port}"  # no path: it may hold tokens
    assert (ops["sent"], ops["failed"], ops["pending"], ops["dropped"]) == (1, 0, 0, 0)
    assert ops["last_success"] is not None


async def test_two_receivers_on_one_url_keep_their_own_pending_deliveries(
    tmp_path: Path,
) -> None:
    """Pending deliveries are saved per receiver name: two receivers of one URL (one per
    format) each get theirs back after a restart, in their own format."""
    port = free_port()  # nothing listens yet: everything stays pending
    url = f"http://127.0.0.1:{port}/hook"
    hooks = (
        {"url": url, "name": "plain", "backoff_initial": 0.05, "backoff_max": 0.1,
         "max_attempts": 100},
        {"url": url, "name": "am", "format": "alertmanager", "backoff_initial": 0.05,
         "backoff_max": 0.1, "max_attempts": 100},
    )  # fmt: skip
    config = webhook_config(tmp_path, *hooks)
    async with trio.open_nursery() as nursery:
        await start_sink(nursery, Bus(), config)
        nursery.cancel_scope.cancel()
    async with trio.open_nursery() as nursery:
        sink = await start_sink(nursery, bus := Bus(), config)
        await publish(bus, "opened", event(begin=EPOCH))
        await trio.sleep(0.3)
        nursery.cancel_scope.cancel()
    assert sink.as_dict()["plain"]["pending"] == 1 and sink.as_dict()["am"]["pending"] == 1

    receiver = HttpReceiver(port=port)
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.serve)
        await start_sink(nursery, Bus(), config)
        got = await receiver.wait_for(2, within=5)
        nursery.cancel_scope.cancel()
    bodies = [r.json() for r in got]
    assert sorted("alerts" in b for b in bodies) == [False, True]  # one of each format


async def test_a_saved_delivery_of_another_shape_is_given_up_not_fatal(tmp_path: Path) -> None:
    receiver = HttpReceiver()
    async with trio.open_nursery() as nursery:
        await nursery.start(receiver.serve)
        hook = {"url": receiver.url, "name": "am", "format": "alertmanager"}
        broken = {"id": "x1", "transition": "opened", "event": {"type": "MEM", "begin": 1}}
        (tmp_path / PENDING_FILE).write_bytes(
            orjson.dumps({"saved_at": 0, "receivers": {"am": [broken]}})
        )
        sink = await start_sink(nursery, bus := Bus(), webhook_config(tmp_path, hook))
        await until(lambda: sink.as_dict()["am"]["failed"] == 1)
        assert "cannot render" in str(sink.as_dict()["am"]["last_error"])
        await publish(bus, "opened", event(begin=EPOCH))  # the sink still works
        await receiver.wait_for(1)
        nursery.cancel_scope.cancel()
