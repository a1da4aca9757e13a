"""The webhook sink: alert transitions as HTTP POSTs to any number of receivers.

It subscribes to ``alerts`` (lossless, but every transition is taken off the bus at once
into the receivers' own bounded queues, so the alert stage never waits on the network)
and, when a receiver repeats notifications, to ``stats`` (latest-wins) for the current
figures of the events list.

Per receiver (``[[webhooks]]``), see ``docs/webhooks.md``:

* a filter (``min_state``, ``send_resolved``) and a repeat timer per ongoing event it
  was told about (``repeat_interval``);
* an ordered FIFO of at most ``queue_size`` deliveries; overflow drops the oldest and
  counts it; one task sends them one at a time through its own ``httpx.AsyncClient``
  (connection reuse), so a slow or dead receiver delays nobody else;
* network errors, timeouts, 5xx and 429 are retried with exponential backoff and jitter,
  honouring ``Retry-After``; any other status is final; after ``max_attempts`` the
  delivery is counted as failed and the queue moves on.

Pending deliveries (including the one in flight) are saved atomically to
``<data_dir>/webhooks.json`` by one writer task and loaded at start, so they are sent
after a restart, in order.  Delivery is at least once: each delivery carries an id
(``X-Statbus-Delivery``) that stays the same across retries and restarts.
"""

from __future__ import annotations

import logging
import math
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import trio

from pipeline import __version__, codec
from pipeline.backoff import exponential, jittered
from pipeline.bus import Bus, Policy, Subscription
from pipeline.config import Config, WebhookConfig, data_dir
from pipeline.events import AlertEvent, StatEvent
from pipeline.persist import SAVE_TIMEOUT, SnapshotWriter
from pipeline.topics import ALERTS_TOPIC, STATS_TOPIC
from sinks.webhook_payloads import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    alertmanager_body,
    fingerprint,
    signature,
    statbus_body,
)

log = logging.getLogger(__name__)

PENDING_FILE = "webhooks.json"
#: on shutdown, the pending deliveries are saved within this many seconds
SHUTDOWN_SAVE_TIMEOUT = 2.0
#: the longest ``Retry-After`` honoured; a longer one waits this long
RETRY_AFTER_MAX = 3600.0
#: how much of a refused request's response body is logged
#: bytes of a refusing receiver's answer read at most (for the excerpt in the log)
MAX_BODY_READ = 1024
BODY_EXCERPT = 200
_RANK = {"WARNING": 1, "CRITICAL": 2}
_STAT_TAG = codec.tag_of(StatEvent)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification waiting to be sent: rendered (and signed) at each attempt."""

    id: str
    transition: str
    event: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "transition": self.transition, "event": self.event}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Delivery:
        event = raw["event"]
        if not isinstance(event, dict) or "type" not in event or "begin" not in event:
            raise ValueError("not an event")
        return cls(str(raw["id"]), str(raw["transition"]), event)


def public_url(url: str) -> str:
    """``scheme://host[:port]``: paths and queries often carry tokens (chat webhooks)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6: brackets, so the port stays readable
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(RETRY_AFTER_MAX, max(0.0, seconds))


class Receiver:
    """One ``[[webhooks]]`` entry: its filter, repeat timers, queue, client and counters."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        host: str,
        wall_clock: Callable[[], float],
        rng: random.Random,
        transport: httpx.AsyncBaseTransport | None,
        current_event: Callable[[str], dict[str, Any] | None],
        on_change: Callable[[], None],
    ) -> None:
        self.config = config
        self.name = config.name
        self._host = host
        self._wall_clock = wall_clock
        self._rng = rng
        self._transport = transport
        self._current_event = current_event
        self._on_change = on_change
        self.queue: deque[Delivery] = deque()
        self.in_flight: Delivery | None = None
        #: fingerprint → (latest event, next repeat in trio time; inf: no repeat)
        self._notified: dict[str, tuple[dict[str, Any], float]] = {}
        self._queued = trio.Event()
        self._timers_changed = trio.Event()
        self.sent = 0
        self.failed = 0
        self.retried = 0
        self.dropped = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_success: float | None = None

    # -- what to send -------------------------------------------------------------------

    def on_transition(self, transition: str, event: dict[str, Any]) -> None:
        """Filter one transition from the bus and queue what this receiver gets."""
        fp = fingerprint(self._host, event["type"], event["begin"])
        told = fp in self._notified
        if transition in ("opened", "escalated"):
            if not told and _RANK.get(event["state"], 0) < _RANK[self.config.min_state]:
                return  # below min_state: not yet of interest to this receiver
            # The first this receiver hears of an event is "opened", even when the
            # event began lower than its min_state and only now escalated.
            self._enqueue(transition if told else "opened", event)
            self._notified[fp] = (event, self._next_repeat())
            self._timers_changed.set()
        elif transition == "closed":
            if self._notified.pop(fp, None) is not None and self.config.send_resolved:
                self._enqueue("closed", event)
        elif transition == "cleared":  # gone from the list: no more repeats, no POST
            self._notified.pop(fp, None)

    def _next_repeat(self) -> float:
        interval = self.config.repeat_interval
        return trio.current_time() + interval if interval > 0 else math.inf

    def _enqueue(self, transition: str, event: dict[str, Any]) -> None:
        self.add(Delivery(uuid.uuid4().hex, transition, event))

    def add(self, delivery: Delivery) -> None:
        while len(self.queue) >= self.config.queue_size:
            gone = self.queue.popleft()
            self.dropped += 1
            log.warning(
                "webhook %s: queue full, dropped the oldest delivery (%s %s)",
                self.name,
                gone.transition,
                gone.event.get("type"),
            )
        self.queue.append(delivery)
        self._queued.set()
        self._on_change()

    @property
    def pending(self) -> int:
        return len(self.queue) + (self.in_flight is not None)

    def pending_deliveries(self) -> list[Delivery]:
        head = [self.in_flight] if self.in_flight is not None else []
        return head + list(self.queue)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": public_url(self.config.url),
            "format": self.config.format,
            "sent": self.sent,
            "failed": self.failed,
            "retried": self.retried,
            "dropped": self.dropped,
            "pending": self.pending,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_success": self.last_success,
        }

    # -- the tasks ----------------------------------------------------------------------

    async def run(self) -> None:
        async with (
            httpx.AsyncClient(
                transport=self._transport,
                headers=dict(self.config.headers),
                timeout=httpx.Timeout(self.config.timeout),
                follow_redirects=False,
                trust_env=False,
            ) as client,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(self._repeater)
            await self._deliver_forever(client)

    async def _repeater(self) -> None:
        """Queue ``repeated`` for every told, ongoing event whose interval has passed."""
        while True:
            self._timers_changed = trio.Event()
            due = min((at for _, at in self._notified.values()), default=math.inf)
            with trio.move_on_at(due):
                await self._timers_changed.wait()
                continue
            now = trio.current_time()
            for fp, (event, at) in list(self._notified.items()):
                if at <= now:
                    latest = self._current_event(fp) or event
                    self._enqueue("repeated", latest)
                    self._notified[fp] = (latest, now + self.config.repeat_interval)

    async def _deliver_forever(self, client: httpx.AsyncClient) -> None:
        while True:
            while not self.queue:
                self._queued = trio.Event()
                await self._queued.wait()
            delivery = self.queue.popleft()
            self.in_flight = delivery
            try:
                await self._deliver(client, delivery)
            except BaseException:
                self.queue.appendleft(delivery)  # still pending: saved, sent after restart
                self.in_flight = None
                raise
            self.in_flight = None
            self._on_change()

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        attempts = self.config.max_attempts
        for attempt in range(1, attempts + 1):
            retry, wait = await self._attempt(client, delivery)
            if not retry:
                return
            if attempt == attempts:
                break
            self.retried += 1
            if wait is None:
                base = exponential(attempt, self.config.backoff_initial, math.inf)
                wait = min(self.config.backoff_max, jittered(base, self._rng))
            log.info(
                "webhook %s: attempt %d of %d failed (%s); retrying in %.1f s",
                self.name,
                attempt,
                attempts,
                self.last_error,
                wait,
            )
            await trio.sleep(wait)
        self.failed += 1
        log.warning(
            "webhook %s: giving up on %s %s after %d attempts: %s",
            self.name,
            delivery.transition,
            delivery.event.get("type"),
            attempts,
            self.last_error,
        )

    def render(self, delivery: Delivery) -> bytes:
        if self.config.format == "alertmanager":
            return alertmanager_body(
                self._host, delivery.transition, delivery.event, receiver=self.name
            )
        return statbus_body(self._host, delivery.transition, delivery.event, self._wall_clock())

    async def _attempt(
        self, client: httpx.AsyncClient, delivery: Delivery
    ) -> tuple[bool, float | None]:
        """One POST: ``(retry?, wait before retrying or None for the backoff)``."""
        try:
            body = self.render(delivery)
        except (KeyError, TypeError, ValueError) as exc:  # a saved event of another shape
            self._error(f"cannot render the delivery: {type(exc).__name__}: {exc}")
            self.failed += 1
            log.error("webhook %s: giving up on a delivery: %s", self.name, self.last_error)
            return False, None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"statbus/{__version__}",
            DELIVERY_HEADER: delivery.id,
        }
        if self.config.secret:
            headers[SIGNATURE_HEADER] = signature(self.config.secret, body, int(self._wall_clock()))
        response: httpx.Response | None = None
        head = b""
        # httpx's timeout is per phase; this bounds the whole request.
        with trio.move_on_after(self.config.timeout):
            try:
                # streamed: of the answer's body only an excerpt is ever read, so a
                # receiver answering with a huge body costs nothing
                async with client.stream(
                    "POST", self.config.url, content=body, headers=headers
                ) as response:
                    async for chunk in response.aiter_bytes():
                        head += chunk
                        if len(head) >= MAX_BODY_READ:
                            break
            except httpx.HTTPError as exc:
                self._error(f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc))
                return True, None
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the monitor
                self._error(f"{type(exc).__name__}: {exc}")
                self.failed += 1
                log.exception("webhook %s: unexpected error; giving the delivery up", self.name)
                return False, None
        if response is None:
            self._error(f"no answer within {self.config.timeout:g} s")
            return True, None
        status = response.status_code
        if 200 <= status < 300:
            self.sent += 1
            self.last_success = self._wall_clock()
            return False, None
        if status == 429 or status >= 500:
            self._error(f"HTTP {status}")
            return True, retry_after(response.headers.get("Retry-After"), self._wall_clock())
        excerpt = head[:BODY_EXCERPT].decode("utf-8", "replace")
        self._error(f"HTTP {status}: {excerpt}")
        self.failed += 1
        log.warning(
            "webhook %s: %s refused %s %s with HTTP %d (not retried): %r",
            self.name,
            public_url(self.config.url),
            delivery.transition,
            delivery.event.get("type"),
            status,
            excerpt,
        )
        return False, None

    def _error(self, text: str) -> None:
        self.last_error = text
        self.last_error_at = self._wall_clock()


class WebhookSink:
    """Sends alert transitions to the ``[[webhooks]]`` receivers."""

    def __init__(
        self,
        bus: Bus,
        config: Config,
        *,
        hostname: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._bus = bus
        self._wall_clock = wall_clock
        self.host = hostname or socket.gethostname()
        self._path: Path = data_dir(config) / PENDING_FILE
        self._events_now: dict[str, dict[str, Any]] = {}  # fingerprint → latest figures
        self._writer = SnapshotWriter(
            self._path, self._snapshot, what="webhooks", timeout=SAVE_TIMEOUT, clock=wall_clock
        )
        shared_rng = rng or random.Random()
        self.receivers = [
            Receiver(
                hook,
                host=self.host,
                wall_clock=wall_clock,
                rng=shared_rng,
                transport=transport,
                current_event=self._events_now.get,
                on_change=self._changed,
            )
            for hook in config.webhooks
        ]
        self._load()

    def as_dict(self) -> dict[str, Any]:
        return {r.name: r.as_dict() for r in self.receivers}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with ExitStack() as stack:
            alerts = stack.enter_context(
                self._bus.subscribe(
                    ALERTS_TOPIC, name="webhooks", policy=Policy.LOSSLESS, maxsize=64
                )
            )
            stats = None
            if any(r.config.repeat_interval > 0 for r in self.receivers):
                stats = stack.enter_context(
                    self._bus.subscribe(
                        STATS_TOPIC, name="webhooks-alert", policy=Policy.LATEST_WINS, maxsize=16
                    )
                )
            try:
                async with trio.open_nursery() as nursery:
                    for receiver in self.receivers:
                        nursery.start_soon(receiver.run)
                    if stats is not None:
                        nursery.start_soon(self._follow_events, stats)
                    nursery.start_soon(self._writer.run)
                    nursery.start_soon(self._take_alerts, alerts)
                    task_status.started()
            finally:
                with trio.move_on_after(SHUTDOWN_SAVE_TIMEOUT, shield=True):
                    if self._writer.dirty:
                        await self._writer.save()

    async def _take_alerts(self, sub: Subscription) -> None:
        async for event in sub:  # never waits on a receiver: queues are non-blocking
            if isinstance(event, AlertEvent):
                for receiver in self.receivers:
                    receiver.on_transition(event.transition, event.event)

    async def _follow_events(self, sub: Subscription) -> None:
        """Keep the events list's latest figures, for ``repeated`` notifications."""
        async for raw in sub.raw():
            try:
                tag, (plugin,) = codec.head(raw, 1)
                if tag != _STAT_TAG or plugin != "alert":
                    continue
                listed: StatEvent = codec.decode(raw)
            except codec.CodecError:
                continue
            self._events_now.clear()
            for e in listed.data:
                if e.get("end") == -1:
                    self._events_now[fingerprint(self.host, e["type"], e["begin"])] = e

    # -- persistence --------------------------------------------------------------------

    def _changed(self) -> None:
        self._writer.changed()

    def _snapshot(self) -> bytes:
        return orjson.dumps(
            {
                "saved_at": self._wall_clock(),
                # by name: two receivers may share a URL (one per format)
                "receivers": {
                    r.name: [d.as_json() for d in r.pending_deliveries()] for r in self.receivers
                },
            }
        )

    def _load(self) -> None:
        if not self._path.exists():
            return
        try:
            raw = orjson.loads(self._path.read_bytes())
            saved = {
                str(name): [Delivery.from_json(d) for d in deliveries]
                for name, deliveries in raw["receivers"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self._path.with_name(f"{self._path.name}.corrupt-{int(time.time())}")
            log.error("webhooks: cannot read %s (%s); moved it to %s", self._path, exc, aside)
            try:
                self._path.replace(aside)
            except OSError as move_error:
                log.error("webhooks: cannot move %s aside: %s", self._path, move_error)
            return
        for receiver in self.receivers:
            for delivery in saved.pop(receiver.name, []):
                receiver.add(delivery)
            if receiver.pending:
                log.info(
                    "webhook %s: %d pending deliveries from before the restart",
                    receiver.name,
                    receiver.pending,
                )
        for name, deliveries in saved.items():
            if deliveries:
                log.warning(
                    "webhooks: dropping %d pending deliveries to %s, no longer configured",
                    len(deliveries),
                    name,
                )
