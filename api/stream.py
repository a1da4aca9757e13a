"""``GET /api/4/stream``: the bus as Server-Sent Events (``docs/stream.md``).

Each client gets bus subscribers of its own, latest-wins: a client that does not read
(its socket is full, so this task waits in ``send``) leaves at most their ``maxsize``
events queued, the bus drops the oldest and counts them (``/api/4/pipeline``), and the
next chunk carries, per plugin, only the newest sample (the state stage's, when the
queued ones are older).  Alert transitions are numbered by one
:class:`~api.alert_log.AlertLog`, made when the API starts (``ApiHandles.alert_log``),
which also keeps the latest ``RESUME_SIZE`` of them for ``Last-Event-ID``.

The body is an async generator that yields outside any nursery or cancel scope (its
waits run in :func:`_wait_any`); its subscriptions are made when Quart starts sending
it and leave the bus when it ends: the client went away, or the server stops it.

At most :data:`MAX_STREAMS` streams are open at once, and at most
:data:`MAX_STREAMS_PER_CLIENT` from one client address; one more is answered ``503``
(``429`` for one address's) with a JSON ``detail`` and ``Retry-After``.  A client that
stops reading cannot be dropped from here: the stream's task then waits in ASGI
``send``, inside hypercorn's shielded, unbounded socket write, where no cancellation
reaches it, and the app has no handle on the socket.  The kernel drops it instead: the
API's sockets carry ``TCP_USER_TIMEOUT`` (``api/server_limits.py``), so a response that
makes no progress for that long fails the write, hypercorn closes the connection, and
the stream ends and leaves the bus.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import orjson
import trio
from quart import Blueprint, Response, request

from api.alert_log import RESUME_SIZE, AlertLog
from api.errors import ApiError, error_response, unknown_plugin
from api.handles import ApiHandles
from api.http_auth import client_address, client_key
from pipeline import codec
from pipeline.bus import Bus, Policy, Subscription
from pipeline.events import AlertEvent, StatEvent, ViewsEvent
from pipeline.stages.state import StateStage, to_json
from pipeline.topics import ALERTS_TOPIC, STATS_TOPIC, VIEWS_TOPIC

log = logging.getLogger(__name__)

#: seconds between two heartbeat comments, whatever else is sent (read per connection)
HEARTBEAT_INTERVAL = 15.0
#: how long (ms) an EventSource waits before it reconnects (the stream's ``retry:``)
RETRY_MS = 3000
#: ``topics=`` names, each the bus topic it relays
TOPICS = ("stats", "alerts", "views")
#: the topics of a stream that names none (views are asked for)
DEFAULT_TOPICS = ("stats", "alerts")
#: streams open at once (each holds bus buffers of two rounds of samples); one more is
#: answered 503 with ``Retry-After`` (read per request)
MAX_STREAMS = 16
#: streams open at once from one client address (an IPv6 client: its /64), so a few
#: clients cannot take every place; one more is answered 429 with ``Retry-After``
MAX_STREAMS_PER_CLIENT = 4
#: the ``Retry-After`` (seconds) of that 503, and of that 429
BUSY_RETRY_AFTER = 10

_STAT_TAG = codec.tag_of(StatEvent)
_HEARTBEAT = b": heartbeat\n\n"


def _frame(event: str, data: bytes, event_id: str | None = None) -> bytes:
    head = b"event: %s\n" % event.encode()
    if event_id is not None:
        head += b"id: %s\n" % event_id.encode()
    return head + b"data: " + data + b"\n\n"


def _comment(text: str) -> bytes:
    return b": " + text.encode() + b"\n\n"


def _drain(sub: Subscription) -> list[bytes]:
    got: list[bytes] = []
    while True:
        try:
            got.append(sub.receive_raw_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return got


async def _wait_any(subs: Sequence[Subscription], deadline: float) -> dict[str, list[bytes]]:
    """Per topic, what ``subs`` have queued: at once if any has something, else once one
    has, or ``{}`` at ``deadline``.  Raises ``trio.EndOfChannel`` if one has ended."""
    got = {sub.stats.topic: raws for sub in subs if (raws := _drain(sub))}
    if got or trio.current_time() >= deadline:
        return got
    ended = False
    async with trio.open_nursery() as nursery:
        nursery.cancel_scope.deadline = deadline

        async def wait(sub: Subscription) -> None:
            nonlocal ended
            try:
                got[sub.stats.topic] = await sub.receive_batch()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                ended = True
            nursery.cancel_scope.cancel()

        for sub in subs:
            nursery.start_soon(wait, sub)
    if ended:
        raise trio.EndOfChannel
    for sub in subs:  # what the others got meanwhile
        if raws := _drain(sub):
            got.setdefault(sub.stats.topic, []).extend(raws)
    return got


@dataclass(eq=False)  # by identity: kept in a WeakSet
class _Stream:
    """One client's stream: what it asked for, and what it was sent so far."""

    bus: Bus
    state: StateStage
    alert_log: AlertLog | None
    plugins: tuple[str, ...]
    topics: tuple[str, ...]
    last_event_id: str | None
    name: str
    #: the client's address, as the per-address cap counts it
    address: str = ""
    #: the ``ts`` of the last sample sent, per plugin
    sent: dict[str, float] = field(default_factory=dict)
    #: the number of the last alert transition sent
    cursor: int = 0
    seen_dropped: dict[str, int] = field(default_factory=dict)
    #: set when the body has ended (or will never start)
    ended: bool = False

    async def frames(self) -> AsyncIterator[bytes]:
        """The body: subscribes when first iterated, unsubscribes when it ends."""
        buffer = 2 * max(1, len(self.state.plugins))  # two rounds of every plugin
        sizes = {STATS_TOPIC: buffer, VIEWS_TOPIC: buffer, ALERTS_TOPIC: RESUME_SIZE}
        with ExitStack() as stack:
            stack.callback(setattr, self, "ended", True)
            subs = [
                stack.enter_context(
                    self.bus.subscribe(
                        topic, name=self.name, policy=Policy.LATEST_WINS, maxsize=sizes[topic]
                    )
                )
                for topic in self.topics
            ]
            log.debug("stream %s: open (%s)", self.name, ",".join(self.topics))
            yield self.opening()
            interval = HEARTBEAT_INTERVAL
            beat = trio.current_time() + interval
            while True:
                try:
                    got = await _wait_any(subs, beat)
                except trio.EndOfChannel:
                    return
                chunk = self.render(got, subs)
                now = trio.current_time()
                if now >= beat:
                    chunk += _HEARTBEAT
                    while beat <= now:
                        beat += interval
                if chunk:
                    yield chunk

    def opening(self) -> bytes:
        """``retry:``, the alert transitions after ``Last-Event-ID``, and the current
        state of the selected plugins."""
        chunk = b"retry: %d\n\n" % RETRY_MS
        if self.alert_log is not None and ALERTS_TOPIC in self.topics:
            self.alert_log.sync()
            self.cursor = self.alert_log.last
            if self.last_event_id is not None:
                chunk += self._resume(self.alert_log, self.last_event_id)
        if STATS_TOPIC in self.topics:
            for plugin in self.plugins:
                ts = self.state.updated_at(plugin)
                if ts is not None:
                    chunk += self._stats_frame(plugin, ts, self.state.get_json(plugin))
        return chunk

    def _resume(self, alert_log: AlertLog, last_event_id: str) -> bytes:
        seq = alert_log.parse_id(last_event_id)
        entries, lost = alert_log.after(0 if seq is None else seq)
        chunk = b""
        if seq is None:
            chunk += _comment(
                f"Last-Event-ID {last_event_id!r} is not from this process: "
                f"the {len(entries)} transitions in memory follow"
            )
        elif lost:
            chunk += _comment(f"{lost} alert transitions after {last_event_id} are no longer kept")
        self.cursor = 0 if seq is None else seq
        chunk += self._alert_frames(entries)
        self.cursor = alert_log.last
        return chunk

    def render(self, got: dict[str, list[bytes]], subs: Sequence[Subscription]) -> bytes:
        chunk = b""
        for sub in subs:
            topic = sub.stats.topic
            dropped = sub.stats.dropped - self.seen_dropped.get(topic, 0)
            self.seen_dropped[topic] = sub.stats.dropped
            raws = got.get(topic, [])
            if topic == STATS_TOPIC and (raws or dropped):
                chunk += self._stats(raws, resync=dropped > 0)
            elif topic == VIEWS_TOPIC and raws:
                chunk += self._views(raws)
            elif topic == ALERTS_TOPIC and (raws or dropped) and self.alert_log is not None:
                # the raws only wake us: the log numbers them, and has them all
                entries, lost = self.alert_log.after(self.cursor)
                if lost:
                    chunk += _comment(f"dropped {lost} alert transitions: the reader is too slow")
                chunk += self._alert_frames(entries)
        return chunk

    def _stats(self, raws: list[bytes], *, resync: bool) -> bytes:
        """The newest queued sample per selected plugin; after drops, the state's
        newest of every selected plugin not sent yet (a dropped sample may have been
        a slowly refreshed plugin's only one)."""
        newest: dict[str, tuple[float, bytes]] = {}
        for raw in raws:
            try:
                tag, (plugin, ts) = codec.head(raw, 2)
            except codec.CodecError:
                log.warning("stream: skipping a stats event that does not decode")
                continue
            if tag == _STAT_TAG and plugin in self.plugins:
                newest[plugin] = (ts, raw)
        chunk = b""
        for plugin in self.plugins if resync else newest:
            queued = newest.get(plugin)
            held = self.state.updated_at(plugin)
            ts = queued[0] if queued is not None else held
            if ts is None or ts <= self.sent.get(plugin, float("-inf")):
                continue
            if ts == held:  # the state's JSON: encoded once per sample for every reader
                body = self.state.get_json(plugin)
            else:  # the state stage has not taken it yet
                assert queued is not None
                (data,) = codec.fields(queued[1], StatEvent, ("data",))
                body = to_json(data)
            chunk += self._stats_frame(plugin, ts, body)
        return chunk

    def _stats_frame(self, plugin: str, ts: float, body: bytes) -> bytes:
        self.sent[plugin] = ts
        head = orjson.dumps({"plugin": plugin, "ts": ts})[:-1]
        return _frame("stats", head + b',"data":' + body + b"}")

    def _views(self, raws: list[bytes]) -> bytes:
        newest: dict[str, Any] = {}
        for raw in raws:
            try:
                event = codec.decode(raw)
            except codec.CodecError:
                log.warning("stream: skipping a views event that does not decode")
                continue
            if isinstance(event, ViewsEvent) and event.plugin in self.plugins:
                newest[event.plugin] = event
        return b"".join(
            _frame("views", to_json({"plugin": e.plugin, "ts": e.ts, "views": e.views}))
            for e in newest.values()
        )

    def _alert_frames(self, entries: list[tuple[int, bytes]]) -> bytes:
        assert self.alert_log is not None
        chunk = b""
        for seq, raw in entries:
            if seq <= self.cursor:
                continue
            self.cursor = seq
            try:
                event = codec.decode(raw)
            except codec.CodecError:
                log.warning("stream: skipping an alert event that does not decode")
                continue
            if isinstance(event, AlertEvent):
                data = {"transition": event.transition, "ts": event.ts, "event": event.event}
                chunk += _frame("alert", to_json(data), self.alert_log.event_id(seq))
        return chunk


def _names(arg: str, given: list[str]) -> list[str]:
    """``a,b`` and ``?x=a&x=b`` alike; a parameter that names nothing is a 400."""
    names = [name.strip() for value in given for name in value.split(",") if name.strip()]
    if not names:
        raise ApiError(400, f"No {arg} named in the {arg} parameter")
    return list(dict.fromkeys(names))


def stream_blueprint(handles: ApiHandles) -> Blueprint:
    bp = Blueprint("stream", __name__)
    enabled = list(handles.state.plugins)
    enabled_set = frozenset(enabled)
    bus = handles.bus
    available = tuple(
        topic
        for topic in TOPICS
        if (topic != "alerts" or handles.alerts is not None)
        and (topic != "views" or handles.thresholds is not None)
    )
    alert_log = handles.alert_log if "alerts" in available else None
    if alert_log is None and bus is not None and "alerts" in available:
        # an app built without one (tests): its own, from now on
        alert_log = own_log = AlertLog(bus)

        @bp.after_app_serving
        async def _close_alert_log() -> None:  # async: a plain def would run in a thread
            own_log.close()

    clients = 0
    # the streams not ended; weak, so a body Quart drops before it starts (the client
    # went away first) leaves no count behind
    open_streams: weakref.WeakSet[_Stream] = weakref.WeakSet()

    @bp.route("/stream")
    async def stream() -> Response:
        nonlocal clients
        if bus is None:
            return error_response(503, "The live stream needs the pipeline (no bus)")
        plugins = tuple(enabled)
        if "plugins" in request.args:
            plugins = tuple(_names("plugins", request.args.getlist("plugins")))
            for plugin in plugins:
                if plugin not in enabled_set:
                    raise unknown_plugin(plugin, enabled)
        topics = tuple(t for t in DEFAULT_TOPICS if t in available)
        if "topics" in request.args:
            topics = tuple(_names("topics", request.args.getlist("topics")))
            for topic in topics:
                if topic not in available:
                    raise ApiError(
                        400, f"Unknown topic {topic} (available topics: {list(available)!r})"
                    )
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        if request.method == "HEAD":  # the headers only: a body would never end
            return Response(b"", mimetype="text/event-stream", headers=headers)
        address = client_key(client_address(request.scope.get("client")))
        live = [s for s in open_streams if not s.ended]
        if sum(1 for s in live if s.address == address) >= MAX_STREAMS_PER_CLIENT:
            return error_response(
                429,
                f"Too many open streams from this address (at most {MAX_STREAMS_PER_CLIENT}):"
                " try again later",
                {"Retry-After": str(BUSY_RETRY_AFTER)},
            )
        if len(live) >= MAX_STREAMS:
            return error_response(
                503,
                f"Too many open streams (at most {MAX_STREAMS}): try again later",
                {"Retry-After": str(BUSY_RETRY_AFTER)},
            )
        clients += 1
        client = _Stream(
            bus,
            handles.state,
            alert_log,
            plugins,
            tuple(t for t in TOPICS if t in topics),
            request.headers.get("Last-Event-ID"),
            name=f"stream#{clients}",
            address=address,
        )
        open_streams.add(client)
        response = Response(client.frames(), mimetype="text/event-stream", headers=headers)
        response.timeout = None  # not Quart's RESPONSE_TIMEOUT (60 s): it runs until closed
        return response

    return bp
