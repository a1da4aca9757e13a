"""What each receiver is sent (min_state, send_resolved, repeat_interval, cleared), and
the config keys: pure timer logic on a mock clock with an in-memory transport."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio
import trio.testing

from pipeline import config as cfg
from pipeline.bus import Bus
from sinks.webhook_payloads import rfc3339, signature
from sinks.webhooks import WebhookSink, retry_after
from tests.sinks.webhook_helpers import EPOCH, event, publish, webhook_config

URL = "http://receiver.invalid/hook"


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # the sink saves in a worker thread: jump only once the loop has been idle a while
    return trio.testing.MockClock(autojump_threshold=0.02)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((trio.current_time(), orjson.loads(request.content)))
        return httpx.Response(200)

    def transitions(self) -> list[tuple[str, str]]:
        return [(b["transition"], b["event"]["state"]) for _, b in self.sent]


async def run_sink(tmp: Path, hook: dict[str, Any], script: Any) -> Recorder:
    recorder = Recorder()
    bus = Bus()
    sink = WebhookSink(
        bus,
        webhook_config(tmp, {"url": URL, **hook}),
        hostname="h",
        transport=httpx.MockTransport(recorder),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.run)
        await script(bus)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    return recorder


async def test_send_resolved_false_suppresses_closed(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async def script(bus: Bus) -> None:
        await publish(bus, "opened", event())
        await trio.sleep(30)
        await publish(bus, "closed", event(end=EPOCH + 30.0))

    got = await run_sink(tmp_path, {"send_resolved": False}, script)
    assert got.transitions() == [("opened", "WARNING")]
    both = await run_sink(tmp_path, {}, script)
    assert both.transitions() == [("opened", "WARNING"), ("closed", "WARNING")]


async def test_min_state_critical_first_hears_of_it_at_escalation(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async def script(bus: Bus) -> None:
        await publish(bus, "opened", event("WARNING"))
        await publish(bus, "escalated", event("CRITICAL"))
        await publish(bus, "closed", event("CRITICAL", end=EPOCH + 9.0))
        # stays WARNING: never of interest, not even its close
        await publish(bus, "opened", event("WARNING", type_="LOAD"))
        await publish(bus, "closed", event("WARNING", type_="LOAD", end=EPOCH + 9.0))

    got = await run_sink(tmp_path, {"min_state": "CRITICAL"}, script)
    assert got.transitions() == [("opened", "CRITICAL"), ("closed", "CRITICAL")]
    everything = await run_sink(tmp_path, {}, script)
    assert [t for t, _ in everything.transitions()] == [
        "opened",
        "escalated",
        "closed",
        "opened",
        "closed",
    ]


async def test_repeat_interval_renotifies_while_ongoing(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async def script(bus: Bus) -> None:
        start = trio.current_time()
        await publish(bus, "opened", event("WARNING"))
        await trio.sleep_until(start + 150)
        await publish(bus, "escalated", event("CRITICAL"))  # restarts the interval
        await trio.sleep_until(start + 250)
        await publish(bus, "closed", event("CRITICAL", end=EPOCH + 250.0))
        await publish(bus, "opened", event(type_="LOAD"))
        await publish(bus, "cleared", event(type_="LOAD", end=EPOCH + 251.0))
        await trio.sleep(500)  # nothing more: one closed, one cleared

    got = await run_sink(tmp_path, {"repeat_interval": 60}, script)
    start = got.sent[0][0]
    timeline = [(round(at - start), b["transition"], b["event"]["state"]) for at, b in got.sent]
    assert timeline == [
        (0, "opened", "WARNING"),
        (60, "repeated", "WARNING"),
        (120, "repeated", "WARNING"),
        (150, "escalated", "CRITICAL"),
        (210, "repeated", "CRITICAL"),
        (250, "closed", "CRITICAL"),
        (250, "opened", "WARNING"),
    ]
    off = await run_sink(tmp_path, {}, script)
    assert "repeated" not in [t for t, _ in off.transitions()]


async def test_retries_back_off_exponentially_on_the_mock_clock(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    times: list[float] = []

    def failing(request: httpx.Request) -> httpx.Response:
        times.append(trio.current_time())
        return httpx.Response(502)

    sink = WebhookSink(
        Bus(),
        webhook_config(tmp_path, {"url": URL, "max_attempts": 5, "backoff_max": 5.0}),
        transport=httpx.MockTransport(failing),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sink.run)
        sink.receivers[0].on_transition("opened", event())
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) == 5
    for gap, base in zip(gaps, [1, 2, 4, 5], strict=True):  # capped at backoff_max
        # (clock readings are floats: allow for their rounding)
        assert min(5.0, base * 0.75) - 1e-6 <= gap <= min(5.0, base * 1.25) + 1e-6
    stats = sink.as_dict()["webhook1"]
    assert (stats["failed"], stats["retried"], stats["pending"]) == (1, 4, 0)


def test_retry_after_as_seconds_or_date() -> None:
    assert retry_after("2", 0) == 2.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470) == 10.0
    assert retry_after("soon", 0) is None
    assert retry_after("99999999", 0) == 3600.0


def test_signature_and_times() -> None:
    assert signature("k", b"{}", 1) == (
        "t=1,v1=" + __import__("hmac").new(b"k", b"1.{}", "sha256").hexdigest()
    )
    assert rfc3339(EPOCH) == "2023-11-14T22:13:20Z"


# -- configuration -----------------------------------------------------------------------


def test_webhook_defaults_and_names() -> None:
    config = cfg.from_mapping({"webhooks": [{"url": "https://a.example/x"}, {"url": URL}]})
    first, second = config.webhooks
    assert (first.name, second.name) == ("webhook1", "webhook2")
    assert first.format == "statbus" and first.timeout == 5.0 and first.min_state == "WARNING"
    assert first.send_resolved is True and first.repeat_interval == 0.0
    assert cfg.Config().webhooks == ()


@pytest.mark.parametrize(
    ("entry", "key", "reason"),
    [
        ({"url": "ftp://x/"}, "webhooks[0].url", "http:// or https://"),
        ({"url": "http://"}, "webhooks[0].url", "must name a host"),
        ({}, "webhooks[0].url", "is required"),
        ({"url": URL, "format": "slack"}, "webhooks[0].format", "one of"),
        ({"url": URL, "min_state": "OK"}, "webhooks[0].min_state", "one of"),
        ({"url": URL, "timeout": 0}, "webhooks[0].timeout", "between"),
        ({"url": URL, "max_attempts": 0}, "webhooks[0].max_attempts", "between"),
        ({"url": URL, "headers": {"X-A": 1}}, "webhooks[0].headers.X-A", "string"),
        ({"url": URL, "headers": "X"}, "webhooks[0].headers", "table"),
        (
            {"url": URL, "headers": {"Content-Type": "x"}},
            "webhooks[0].headers.Content-Type",
            "statbus",
        ),
        ({"url": URL, "nope": 1}, "webhooks[0].nope", "unknown key"),
        ({"url": URL, "headers": {"X-Team": "équipe"}}, "webhooks[0].headers.X-Team", "ASCII"),
        (
            {"url": URL, "headers": {"Transfer-Encoding": "x"}},
            "webhooks[0].headers.Transfer-Encoding",
            "statbus",
        ),
        ({"url": "http://127.0.0.1:0/h"}, "webhooks[0].url", "port 0"),
        ({"url": "http://a_b..example/hook"}, "webhooks[0].url", "not a valid host name"),
        ({"url": URL, "backoff_initial": 9, "backoff_max": 1}, "webhooks[0].backoff_max", "below"),
    ],
)
def test_bad_webhook_entries_name_key_and_reason(
    entry: dict[str, Any], key: str, reason: str
) -> None:
    with pytest.raises(cfg.ConfigError) as info:
        cfg.from_mapping({"webhooks": [entry]})
    assert info.value.key == key and reason in info.value.reason


def test_webhooks_must_be_an_array_of_tables_with_unique_names() -> None:
    with pytest.raises(cfg.ConfigError, match="array of tables"):
        cfg.from_mapping({"webhooks": {"url": URL}})
    with pytest.raises(cfg.ConfigError, match="used by another"):
        cfg.from_mapping({"webhooks": [{"url": URL, "name": "a"}, {"url": URL, "name": "a"}]})


def test_webhooks_round_trip_through_toml_with_secrets_redacted() -> None:
    hook = {"url": URL, "secret": "s", "headers": {"Authorization": "Bearer t"}, "name": "n"}
    config = cfg.from_mapping({"webhooks": [hook]})
    again = cfg.from_mapping(tomllib.loads(cfg.to_toml(config, redact=False)))
    assert again.webhooks == config.webhooks
    shown = cfg.to_toml(config)
    assert "Bearer t" not in shown and '"s"' not in shown and cfg.REDACTED in shown


def test_check_config_hides_tokens_in_webhook_urls(tmp_path: Path) -> None:
    from pipeline.config import to_toml

    config = webhook_config(
        tmp_path,
        {"url": "https://hooks.example:8443/services/T0K3N?key=s3cret", "secret": "x"},
        {"url": "http://[::1]:9000/"},
    )
    text = to_toml(config)
    assert "T0K3N" not in text and "s3cret" not in text
    assert 'url = "https://hooks.example:8443/********"' in text
    assert 'url = "http://[::1]:9000/"' in text
