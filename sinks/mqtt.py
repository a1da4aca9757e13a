"""The MQTT sink: stats and alert transitions to a broker, surviving the broker.

It subscribes to ``stats`` (latest-wins: a slow or absent broker never slows the
pipeline) and to ``alerts`` (lossless, but taken off the bus at once into the sink's own
bounded queue, so the alert stage never waits on the network either), and publishes in
the reference's layout (:mod:`sinks.mqtt_layout`) through a paho client driven from
trio (:mod:`sinks.mqtt_client`).

Buffers, whether connected or not:

* stats: the latest payload per topic, waiting to be sent; a newer sample replaces an
  unsent one, so a reconnect sends one message per topic, never a backlog;
* alert transitions: a FIFO of at most ``queue_size``; overflow drops the oldest and
  counts it.  A transition leaves the FIFO when it is handed to paho and is forgotten
  only when the broker acknowledges it (QoS 1); unacknowledged ones go back to the
  front of the FIFO when the connection drops, and are sent again, in order.

At most :data:`~sinks.mqtt_client.WINDOW` messages are in paho's hands at a time;
transitions always go before stats.  See ``docs/mqtt.md``.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
import trio

from pipeline import codec
from pipeline.backoff import exponential, jittered
from pipeline.bus import Bus, Policy, Subscription
from pipeline.config import Config
from pipeline.events import AlertEvent, StatEvent
from pipeline.topics import ALERTS_TOPIC, STATS_TOPIC
from sinks.mqtt_client import WINDOW, ConnectError, Connection, Settings, default_hostname
from sinks.mqtt_discovery import FIELDS, Discovery, Tracker
from sinks.mqtt_layout import Layout

log = logging.getLogger(__name__)

#: on shutdown: remaining transitions, ``offline`` and DISCONNECT within this many seconds
SHUTDOWN_TIMEOUT = 2.0
#: discovery again this long (jittered) after Home Assistant's birth message
BIRTH_DELAY = (1.0, 5.0)
#: at most one announcement after a birth per this many seconds: births coming faster
#: (a restart loop, or anyone able to publish on the status topic) are answered once at
#: the end of the interval, so they cannot make statbus re-send every config in a loop
BIRTH_MIN_INTERVAL = 30.0
#: messages on the status topics that are not a birth: each of the first this many per
#: connection is logged (at debug), then one line says the rest are not
STATUS_LOG_LIMIT = 10
#: the latest state again this long after discovery configs (Home Assistant subscribes
#: to an entity's state topic only once it has processed its config)
STATE_DELAY = 1.0
#: a connection must have lasted this long for a drop to reset the reconnect backoff
#: (a connection the broker closes at once, e.g. another client with the same id, would
#: otherwise make the sink reconnect every second)
STABLE_AFTER = 30.0
#: a message in flight when this many connections in a row dropped is given up (the
#: broker rejects it, e.g. it is over the broker's max_packet_size)
MAX_DROPS_IN_FLIGHT = 3
_STAT_TAG = codec.tag_of(StatEvent)


@dataclass(frozen=True, slots=True)
class _Sent:
    """A message in paho's hands, until acknowledged."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    #: order of an alert transition; ``None`` for stats and availability
    seq: int | None = None
    #: a Home Assistant discovery config (``b""``: a deletion)
    discovery: bool = False


class MqttSink:
    """Publishes the pipeline's stats and alerts to an MQTT broker (``[mqtt]``)."""

    def __init__(self, bus: Bus, config: Config, *, hostname: str | None = None) -> None:
        mqtt = config.mqtt
        host = hostname or default_hostname()
        device = mqtt.devicename or "".join("_" if c in "+#\0" else c for c in host)
        self._bus = bus
        self.layout = Layout(
            mqtt.topic, device, mqtt.topic_structure, set(mqtt.plugins) - set(mqtt.exclude)
        )
        self.settings = Settings(
            host=mqtt.host,
            port=mqtt.port,
            client_id=mqtt.client_id or f"statbus-{host}",
            keepalive=mqtt.keepalive,
            username=mqtt.username,
            password=mqtt.password,
            will=(self.layout.availability, "offline"),
            tls=mqtt.tls,
            ca_file=mqtt.ca_file,
            certfile=mqtt.certfile,
            keyfile=mqtt.keyfile,
            tls_insecure=mqtt.tls_insecure,
        )
        self._qos, self._retain, self._queue_size = mqtt.qos, mqtt.retain, mqtt.queue_size
        self._retry_initial = config.global_.retry_initial
        self._retry_max = config.global_.retry_max
        self._events: deque[tuple[int, bytes]] = deque()  # (seq, payload), oldest first
        self._event_seq = 0
        self._latest: dict[str, tuple[bytes, int, bool]] = {}  # topic → (payload, qos, retain)
        self._topics_of: dict[str, set[str]] = {}  # plugin → topics of its last sample
        self._alert_list: bytes | None = None  # the latest events list, sent on every connect
        self._drops: dict[str | int, int] = {}  # topic or transition seq → drops in flight
        self._rejected: set[str] = set()  # topics the broker rejects: not published any more
        self._connected_at: float | None = None
        self._unacked: dict[int, _Sent] = {}  # mid → message
        self._kick = trio.Event()
        self._conn: Connection | None = None
        self._limiter = trio.CapacityLimiter(2)
        #: ``connecting``, ``connected`` or ``disconnected`` (waiting to retry)
        self.state = "connecting"
        self.connects = 0
        self.disconnects = 0
        #: messages the broker acknowledged (QoS 1/2) or that were written (QoS 0)
        self.published = 0
        #: alert transitions lost to a full queue
        self.dropped = 0
        self.last_error: str | None = None
        #: Home Assistant discovery (``[mqtt.homeassistant]``), ``None`` when disabled
        self.discovery: Tracker | None = None
        if mqtt.homeassistant.enabled:
            ha = mqtt.homeassistant
            expire = {p: config.refresh_of(p) for p in FIELDS if p in config.plugins}
            self.discovery = Tracker(
                Discovery(
                    self.layout,
                    prefix=ha.prefix,
                    device=device,
                    status_topic=ha.status_topic,
                    expire_after=expire,
                    alerts=not config.alert.disable,
                )
            )
        self._birth = trio.Event()
        self._restate_wanted = trio.Event()
        #: when discovery was last announced again after a birth (trio time)
        self._birth_announced: float | None = None
        #: messages on the status topics that were not a birth (all connections)
        self.status_ignored = 0
        self._status_ignored_here = 0  # on this connection: bounds the debug lines

    # -- counters ---------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Alert transitions not yet acknowledged by the broker."""
        return len(self._events) + sum(1 for s in self._unacked.values() if s.seq is not None)

    @property
    def pending_stats(self) -> int:
        """Stats topics whose latest payload is not sent yet."""
        return len(self._latest)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "broker": f"{self.settings.host}:{self.settings.port}",
            "connects": self.connects,
            "disconnects": self.disconnects,
            "published": self.published,
            "queued": self.queued,
            "pending_stats": self.pending_stats,
            "dropped": self.dropped,
            "last_error": self.last_error,
        }

    # -- the service ------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with (
            self._bus.subscribe(
                STATS_TOPIC, name="mqtt-stats", policy=Policy.LATEST_WINS, maxsize=256
            ) as stats,
            self._bus.subscribe(
                ALERTS_TOPIC, name="mqtt-alerts", policy=Policy.LOSSLESS, maxsize=64
            ) as alerts,
        ):
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._take_stats, stats)
                    nursery.start_soon(self._take_alerts, alerts)
                    nursery.start_soon(self._connect_forever)
                    task_status.started()
            finally:
                with trio.move_on_after(SHUTDOWN_TIMEOUT, shield=True):
                    await self._goodbye()
                if self._conn is not None:
                    self._conn.abort()

    async def _take_stats(self, sub: Subscription) -> None:
        # A round's samples arrive together: translated in one wake-up, and the
        # publisher kicked once for all of them.
        async for batch in sub.batches():
            if any([self._take_stat(raw) for raw in batch]):
                self._kick.set()

    def _take_stat(self, raw: bytes) -> bool:
        """Translate one encoded sample into the buffers; whether it added anything."""
        try:
            tag, (plugin,) = codec.head(raw, 1)
            if tag != _STAT_TAG or not (plugin == "alert" or self.layout.exported(plugin)):
                return False  # not exported: not even decoded
            event: StatEvent = codec.decode(raw)
            if plugin == "alert":  # the events list: retained, QoS 1
                payload = orjson.dumps(event.data, option=orjson.OPT_NON_STR_KEYS)
                self._alert_list = payload
                messages = [(self.layout.alert, payload, 1, True)]
            else:
                messages = [
                    (topic, payload, self._qos, self._retain)
                    for topic, payload in self.layout.messages(plugin, event.data)
                ]
            # Only this sample's topics wait: those of vanished items (a veth gone
            # while the broker is away) are dropped, so nothing piles up.
            topics = {m[0] for m in messages}
            for gone in self._topics_of.get(plugin, set()) - topics:
                self._latest.pop(gone, None)
            self._topics_of[plugin] = topics
            for topic, payload, qos, retain in messages:
                if topic not in self._rejected:
                    self._latest[topic] = (payload, qos, retain)
            if self.discovery is not None and self.discovery.sample(plugin, event.data, messages):
                self._restate_wanted.set()
        except (codec.CodecError, TypeError, ValueError):
            log.exception("mqtt: dropping a stats event it cannot translate")
            return False
        return True

    async def _take_alerts(self, sub: Subscription) -> None:
        async for event in sub:
            if not isinstance(event, AlertEvent):
                continue
            payload = orjson.dumps(
                {"transition": event.transition, "ts": event.ts, "event": event.event},
                option=orjson.OPT_NON_STR_KEYS,
            )
            self._event_seq += 1
            self._events.append((self._event_seq, payload))
            self._trim_events()
            self._kick.set()

    def _trim_events(self) -> None:
        while len(self._events) > self._queue_size:
            self._events.popleft()
            self.dropped += 1

    async def _connect_forever(self) -> None:
        attempt = 0  # consecutive attempts that failed or did not last (the backoff)
        failing = False  # a failure is logged once, until the next success
        flapping = False  # connections dropping soon after they are made: logged once
        where = f"{self.settings.host}:{self.settings.port}"
        while True:
            self.state = "connecting"
            try:
                self._conn = await Connection.open(self.settings, self._acked, self._limiter)
                await self._serve(self._conn)
            except ConnectError as exc:
                self.last_error = str(exc)
                if not failing:
                    # refused (bad credentials, client id): an error someone must fix
                    (log.error if exc.refused else log.warning)(
                        "mqtt: cannot connect to %s (%s); retrying with backoff up to %g s",
                        where,
                        exc,
                        self._retry_max,
                    )
                    failing = True
                else:
                    log.debug("mqtt: still cannot connect to %s (%s)", where, exc)
            except Exception as exc:  # a bug here or in paho must not stop statbus
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("mqtt: unexpected error; reconnecting")
                if self._conn is not None:
                    self._conn.abort()
                self._requeue()
            else:  # it was connected, and the connection dropped
                failing = False
                self.last_error = self._conn.lost if self._conn else None
                lasted = trio.current_time() - (self._connected_at or trio.current_time())
                if lasted >= STABLE_AFTER:
                    attempt, flapping = 0, False
                    log.warning(
                        "mqtt: connection to %s lost (%s); reconnecting", where, self.last_error
                    )
                elif not flapping:
                    flapping = True
                    log.warning(
                        "mqtt: connection to %s lost %.1f s after it was made (%s); "
                        "reconnecting with backoff (another client with the same client_id?)",
                        where,
                        lasted,
                        self.last_error,
                    )
                else:
                    log.debug("mqtt: connection to %s lost again (%s)", where, self.last_error)
            finally:
                if self._conn is not None and not self._conn.connected:
                    self._conn.abort()
            self.state = "disconnected"
            attempt += 1
            await trio.sleep(jittered(exponential(attempt, self._retry_initial, self._retry_max)))

    async def _serve(self, conn: Connection) -> None:
        """Wait for CONNACK, then publish until the connection drops."""
        error: ConnectError | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.run_io, nursery.cancel_scope)
            try:
                await conn.wait_connack()
            except ConnectError as exc:
                error = exc
                nursery.cancel_scope.cancel()
            else:
                self.state = "connected"
                self.connects += 1
                self._connected_at = trio.current_time()
                log.info("mqtt: connected to %s:%d", self.settings.host, self.settings.port)
                self._send(conn, _Sent(self.layout.availability, b"online", 1, True))
                if self._alert_list is not None:  # retained: a restarted broker lost it
                    self._latest[self.layout.alert] = (self._alert_list, 1, True)
                if self.discovery is not None:
                    self._start_discovery(conn, nursery)
                while True:
                    self._kick = trio.Event()
                    self._pump(conn)
                    await self._kick.wait()
        if error is None and self.state != "connected":
            # lost before its CONNACK (a TLS alert, a broker closing on us): run_io
            # cancelled the wait, and this is a failed attempt, not a lost connection
            error = conn.connect_error()
        if error is not None:
            raise error
        # the connection dropped: what paho held unacknowledged goes back to the buffers
        self.disconnects += 1
        self._requeue()

    def _send(self, conn: Connection, msg: _Sent) -> bool:
        mid = conn.publish(msg.topic, msg.payload, msg.qos, msg.retain)
        if mid is None:
            return False
        self._unacked[mid] = msg
        return True

    def _pump(self, conn: Connection, *, events_only: bool = False) -> None:
        """Hand buffered messages to paho while the window has room: transitions first."""
        while len(self._unacked) < WINDOW:
            if self._events:
                seq, payload = self._events.popleft()
                if not self._send(conn, _Sent(self.layout.events, payload, 1, False, seq)):
                    self._events.appendleft((seq, payload))
                    return
            elif self.discovery is not None and self.discovery.pending and not events_only:
                pending = self.discovery.pending
                topic = next(iter(pending))
                payload = pending.pop(topic)
                if not self._send(conn, _Sent(topic, payload, 1, True, discovery=True)):
                    pending.setdefault(topic, payload)
                    return
                self.discovery.sent(topic, payload)
            elif self._latest and not events_only:
                topic = next(iter(self._latest))
                payload, qos, retain = self._latest.pop(topic)
                if not self._send(conn, _Sent(topic, payload, qos, retain)):
                    self._latest.setdefault(topic, (payload, qos, retain))
                    return
            else:
                return

    def _acked(self, mid: int) -> None:
        msg = self._unacked.pop(mid, None)
        if msg is not None:
            self._drops.pop(msg.seq if msg.seq is not None else msg.topic, None)
            if msg.discovery and self.discovery is not None:
                self.discovery.acknowledged(msg.topic, msg.payload)
            self.published += 1
            self._kick.set()

    def _requeue(self) -> None:
        """Unacknowledged transitions back to the front, in order; stats back unless a
        newer sample of their topic is already waiting."""
        sent, self._unacked = self._unacked, {}
        kept = [m for m in sent.values() if not self._given_up(m)]
        events = sorted((m for m in kept if m.seq is not None), key=lambda m: m.seq or 0)
        for msg in reversed(events):
            self._events.appendleft((msg.seq or 0, msg.payload))
        self._trim_events()
        for msg in kept:
            # (discovery is announced again in full on the next connect)
            if msg.seq is None and not msg.discovery and msg.topic != self.layout.availability:
                self._latest.setdefault(msg.topic, (msg.payload, msg.qos, msg.retain))

    def _given_up(self, msg: _Sent) -> bool:
        """Count a drop with ``msg`` in flight; give it up after MAX_DROPS_IN_FLIGHT in a
        row (the broker keeps closing the connection on it: it will never pass)."""
        key: str | int = msg.seq if msg.seq is not None else msg.topic
        drops = self._drops[key] = self._drops.get(key, 0) + 1
        if drops < MAX_DROPS_IN_FLIGHT or msg.discovery or msg.topic == self.layout.availability:
            return False
        del self._drops[key]
        self.dropped += 1
        if msg.seq is None:
            self._rejected.add(msg.topic)
            self._latest.pop(msg.topic, None)
        log.error(
            "mqtt: the broker dropped the connection %d times with %s in flight (%d bytes); "
            "giving it up%s",
            drops,
            msg.topic if msg.seq is None else f"alert transition #{msg.seq}",
            len(msg.payload),
            " and not publishing that topic any more" if msg.seq is None else "",
        )
        return True

    # -- Home Assistant discovery (sinks/mqtt_discovery.py) -----------------------------

    def _start_discovery(self, conn: Connection, nursery: trio.Nursery) -> None:
        """On every connect: listen for Home Assistant's birth (subscriptions do not
        outlive a connection), announce every entity, then the state."""
        assert self.discovery is not None
        conn.on_message = self._status_message
        self._status_ignored_here = 0
        conn.subscribe(list(self.discovery.discovery.status_topics))
        # Home Assistant keeps its states across a broker reconnect: only entities new
        # since the last announcement get their state again (see _restate)
        self.discovery.announce(restate=False)
        self._birth = trio.Event()
        self._restate_wanted.set()
        nursery.start_soon(self._announce_after_birth)
        nursery.start_soon(self._restate)

    def _status_message(self, topic: str, payload: bytes, retained: bool) -> None:
        """A message on a status topic (paho has read it whole; see docs/mqtt.md for
        bounding its size at the broker).  Only a live ``online`` is a birth: a retained
        one is an old birth the broker kept, and every connect announces anyway."""
        assert self.discovery is not None
        if not retained and self.discovery.discovery.is_birth(topic, payload):
            log.debug("mqtt: Home Assistant is online (%s)", topic)
            self._birth.set()
            return
        self.status_ignored += 1
        self._status_ignored_here += 1
        if self._status_ignored_here <= STATUS_LOG_LIMIT:
            log.debug(
                "mqtt: ignoring %s%d bytes on %s: %r",
                "a retained message, " if retained else "",
                len(payload),
                topic[:200],
                payload[:32],
            )
            if self._status_ignored_here == STATUS_LOG_LIMIT:
                log.debug("mqtt: further ignored messages on %s are not logged", topic[:200])

    async def _announce_after_birth(self) -> None:
        assert self.discovery is not None
        while True:
            await self._birth.wait()
            await trio.sleep(random.uniform(*BIRTH_DELAY))
            if self._birth_announced is not None:
                # births faster than BIRTH_MIN_INTERVAL: one announcement at its end
                await trio.sleep_until(self._birth_announced + BIRTH_MIN_INTERVAL)
            self._birth = trio.Event()  # births while waiting: one announcement
            self._birth_announced = trio.current_time()
            log.info("mqtt: Home Assistant came online: announcing discovery again")
            self.discovery.announce(restate=True)
            self._restate_wanted.set()
            self._kick.set()

    async def _restate(self) -> None:
        """The latest state, a moment after new configs, so that new entities show
        their values without waiting for their plugin's next sample."""
        assert self.discovery is not None
        while True:
            await self._restate_wanted.wait()
            self._restate_wanted = trio.Event()
            await trio.sleep(STATE_DELAY)
            for topic, payload, qos, retain in self.discovery.take_restate():
                self._latest.setdefault(topic, (payload, qos, retain))
            self._kick.set()

    async def _goodbye(self) -> None:
        """Shutdown: send the remaining transitions, ``offline`` (retained), DISCONNECT.
        Runs shielded under :data:`SHUTDOWN_TIMEOUT`."""
        conn = self._conn
        if conn is None or not conn.connected:
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.run_io, nursery.cancel_scope)
            while self._events or any(m.seq is not None for m in self._unacked.values()):
                self._kick = trio.Event()
                self._pump(conn, events_only=True)
                await self._kick.wait()
            self._send(conn, _Sent(self.layout.availability, b"offline", 1, True))
            while self._unacked:
                self._kick = trio.Event()
                await self._kick.wait()
            conn.disconnect()
            await conn.closed.wait()
            nursery.cancel_scope.cancel()
        self.state = "disconnected"
        log.info("mqtt: disconnected from %s:%d", self.settings.host, self.settings.port)
