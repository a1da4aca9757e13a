"""``GET /api/4/stream``: Server-Sent Events from the bus (``docs/stream.md``).

Over real HTTP both ways: against a statbus subprocess whose alerts fire when the test
fills a watched folder, and against the app statbus serves (``create_root_app``: the fast
path, Quart loaded on first use) on an in-process hypercorn, where the test publishes on
the bus itself: heartbeats, ids and ``Last-Event-ID``, and a reader that stops reading.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import trio

from api import alert_log as alert_log_module
from api import stream as stream_module
from pipeline.bus import Bus
from pipeline.events import AlertEvent, StatEvent, ViewsEvent
from pipeline.stages.state import StateStage
from pipeline.topics import ALERTS_TOPIC, STATS_TOPIC, VIEWS_TOPIC
from tests.api.in_process import serve_root_app
from tests.conftest import QUIET_HOST, LiveStatbus, start_statbus, toml_sections

# -- reading a stream ------------------------------------------------------------------


@dataclass
class Sse:
    """One dispatched block: an event, or a comment (``: ...``), or ``retry:``."""

    event: str | None = None
    data: str = ""
    id: str | None = None
    comment: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SseParser:
    """Lines in, blocks out (the SSE wire format, as an EventSource reads it)."""

    def __init__(self) -> None:
        self._block = Sse()

    def feed(self, line: str) -> Sse | None:
        if line == "":
            block, self._block = self._block, Sse()
            return block if block != Sse() else None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            self._block.comment = value
        elif name == "event":
            self._block.event = value
        elif name == "data":
            self._block.data = value if not self._block.data else self._block.data + "\n" + value
        elif name == "id":
            self._block.id = value
        elif name == "retry":
            self._block.retry = int(value)
        return None


def read_sync(resp: httpx.Response) -> Iterator[Sse]:
    parser = SseParser()
    for line in resp.iter_lines():
        block = parser.feed(line)
        if block is not None:
            yield block


class SseConnection:
    """One ``GET`` over a trio socket, spoken with h11 (httpx's async line iterators are
    nested async generators that cannot be closed half-read without a warning)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._h11 = h11.Connection(h11.CLIENT)
        self._parser = SseParser()
        self._pending = b""
        self._blocks: list[Sse] = []
        self.status = 0
        self.headers: dict[str, str] = {}

    async def request(self, target: str, headers: dict[str, str]) -> None:
        fields = [("Host", "127.0.0.1"), *headers.items()]
        data = self._h11.send(h11.Request(method="GET", target=target, headers=fields))
        data += self._h11.send(h11.EndOfMessage()) or b""
        await self._stream.send_all(data or b"")
        event = await self._next_event()
        assert isinstance(event, h11.Response), event
        self.status = event.status_code
        self.headers = {k.decode(): v.decode() for k, v in event.headers}

    async def _next_event(self) -> Any:
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            self._h11.receive_data(await self._stream.receive_some(65536))

    async def next_block(self) -> Sse:
        while not self._blocks:
            event = await self._next_event()
            assert isinstance(event, h11.Data), event  # the stream does not end
            *lines, self._pending = (self._pending + bytes(event.data)).split(b"\n")
            for line in lines:
                block = self._parser.feed(line.decode())
                if block is not None:
                    self._blocks.append(block)
        return self._blocks.pop(0)

    async def next_event(self, event: str) -> Sse:
        while True:
            block = await self.next_block()
            if block.event == event:
                return block


def _detail(resp: httpx.Response) -> str:
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    return body["detail"]


def _stream_subscribers(subscribers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The subscribers of open streams (not the app's ``stream-resume`` log)."""
    return [s for s in subscribers if s["name"].startswith("stream#")]


# -- against a statbus subprocess ------------------------------------------------------

AUTH = ("admin", "s3cret")


@dataclass
class Alerting:
    live: LiveStatbus
    watched: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.live.base, auth=AUTH, timeout=10.0)


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alerting]:
    """statbus with Basic auth whose watched folder opens an event at 1 MB (WARNING) and
    escalates it at 3 MB (CRITICAL); events are kept however short (min_duration 0)."""
    tmp = tmp_path_factory.mktemp("stream")
    watched = tmp / "watched"
    watched.mkdir()
    live = start_statbus(tmp, _alerting_config(watched))
    yield Alerting(live, watched)
    assert live.stop() == 0
    assert not [line for line in live.stderr_lines if "Traceback" in line]


def _alerting_config(watched: Path) -> str:
    # the host's own CPU, load and memory open no event (max_events would push the
    # folder's out): the events here are the test's
    return (
        toml_sections(QUIET_HOST)
        + f"""
[api]
port = 0
username = "{AUTH[0]}"
password = "{AUTH[1]}"
[global]
refresh = 1.0
[alert]
min_duration = 0.0
min_interval = 0.0
[folders]
refresh = 1.0
"{watched}_log" = true
[[folders.folder]]
path = "{watched}"
warning = 1
critical = 3
refresh = 1
"""
    )


@pytest.mark.slow
def test_the_stream_needs_credentials_when_a_password_is_set(alerting: Alerting) -> None:
    resp = httpx.get(f"{alerting.live.base}/stream", timeout=10)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Basic"
    assert _detail(resp) == "Not authenticated"
    resp = httpx.get(f"{alerting.live.base}/stream", auth=("admin", "wrong"), timeout=10)
    assert resp.status_code == 401
    assert _detail(resp) == "Incorrect authentication"
    with alerting.client() as http:  # HEAD: the headers, no endless body
        head = http.head("/stream")
        assert head.status_code == 200
        assert head.headers["content-type"].startswith("text/event-stream")


@pytest.mark.slow
def test_filters_naming_nothing_known_are_400s(alerting: Alerting) -> None:
    with alerting.client() as http:
        resp = http.get("/stream", params={"plugins": "cpu,nosuch"})
        assert resp.status_code == 400
        assert _detail(resp).startswith("Unknown plugin nosuch (available plugins: [")
        resp = http.get("/stream", params={"plugins": "irq"})  # disabled by default
        assert resp.status_code == 400
        assert _detail(resp).startswith("Unknown plugin irq ")
        resp = http.get("/stream", params={"topics": "stats,nosuch"})
        assert resp.status_code == 400
        assert _detail(resp) == (
            "Unknown topic nosuch (available topics: ['stats', 'alerts', 'views'])"
        )
        for param in ("plugins", "topics"):
            resp = http.get("/stream", params={param: " ,"})
            assert resp.status_code == 400
            assert _detail(resp) == f"No {param} named in the {param} parameter"


@pytest.mark.slow
def test_stats_start_with_the_current_state_and_keep_to_the_plugins_asked(
    alerting: Alerting,
) -> None:
    with alerting.client() as http:
        query = {"plugins": "cpu,mem", "topics": "stats,views"}
        headers = {"Accept-Encoding": "gzip"}
        with http.stream("GET", "/stream", params=query, headers=headers) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert resp.headers["cache-control"] == "no-cache"
            assert resp.headers["x-accel-buffering"] == "no"
            assert "content-encoding" not in resp.headers  # never gzip-buffered
            assert "content-length" not in resp.headers
            blocks = read_sync(resp)
            assert next(blocks).retry == stream_module.RETRY_MS
            # the current state of both plugins at once, before any new sample
            first = [next(blocks), next(blocks)]
            assert [b.event for b in first] == ["stats", "stats"]
            assert sorted(b.json()["plugin"] for b in first) == ["cpu", "mem"]
            for block in first:
                assert block.id is None  # only alerts have ids (Last-Event-ID stays theirs)
                assert set(block.json()) == {"plugin", "ts", "data"}
            cpu_ts = [b.json()["ts"] for b in first if b.json()["plugin"] == "cpu"]
            seen: dict[str, set[str]] = {"stats": set(), "views": set()}
            while len(cpu_ts) < 4 or seen["views"] != {"cpu", "mem"}:
                block = next(blocks)
                assert block.event in seen, block
                body = block.json()
                seen[block.event].add(body["plugin"])
                if block.event == "stats" and body["plugin"] == "cpu":
                    assert 0.0 <= body["data"]["total"] <= 100.0
                    cpu_ts.append(body["ts"])
                if block.event == "views":
                    assert set(body) == {"plugin", "ts", "views"}
                    assert "decoration" in next(iter(body["views"].values()))
            assert seen["stats"] == {"cpu", "mem"}
            assert cpu_ts == sorted(cpu_ts) and len(set(cpu_ts)) == len(cpu_ts)


def _wait_for_alert(
    blocks: Iterator[Sse], type_: str, transition: str, timeout: float = 30.0
) -> Sse:
    deadline = time.monotonic() + timeout
    for block in blocks:  # stats of folders come every second: the check runs often
        if block.event == "alert" and block.json()["event"]["type"] == type_:
            if block.json()["transition"] == transition:
                return block
        assert time.monotonic() < deadline, f"no {transition!r} transition"
    raise AssertionError("the stream ended")


def _pipeline_streams(http: httpx.Client) -> list[dict[str, Any]]:
    return _stream_subscribers(http.get("/pipeline").json()["subscribers"])


@pytest.mark.slow
def test_alert_transitions_as_they_fire_and_resumed_after_a_reconnect(
    alerting: Alerting,
) -> None:
    query = {"plugins": "folders", "topics": "stats,alerts"}
    type_ = f"FOLDERS_{str(alerting.watched).upper()}"

    def ours(http: httpx.Client) -> dict[str, Any]:
        (event,) = [e for e in http.get("/alert").json() if e["type"] == type_]
        return event

    with alerting.client() as http:
        with http.stream("GET", "/stream", params=query) as resp:
            blocks = read_sync(resp)
            next(blocks)  # retry
            (alerting.watched / "a").write_bytes(b"\0" * 2_000_000)
            opened = _wait_for_alert(blocks, type_, "opened")
            # a bus subscriber per topic while the client is connected
            assert {s["topic"] for s in _pipeline_streams(http)} == {"stats", "alerts"}
        event = opened.json()["event"]
        assert event["state"] == "WARNING" and event["end"] == -1
        boot, _, seq = (opened.id or "").partition("-")
        assert boot.isdigit() and seq.isdigit()

        # the client is gone: so are its subscribers
        deadline = time.monotonic() + 10
        while _pipeline_streams(http):
            assert time.monotonic() < deadline, _pipeline_streams(http)
            time.sleep(0.1)

        # while nobody is connected, the event escalates and closes
        (alerting.watched / "b").write_bytes(b"\0" * 3_000_000)
        deadline = time.monotonic() + 30
        while ours(http)["state"] != "CRITICAL":
            assert time.monotonic() < deadline, "no escalation"
            time.sleep(0.3)
        for name in ("a", "b"):
            (alerting.watched / name).unlink()
        while ours(http)["end"] == -1:
            assert time.monotonic() < deadline, "the event did not close"
            time.sleep(0.3)

        # the reconnect gets what it missed first, in order, then goes on live
        resume = {"Last-Event-ID": opened.id or ""}
        with http.stream("GET", "/stream", params=query, headers=resume) as resp:
            blocks = read_sync(resp)
            assert next(blocks).retry == stream_module.RETRY_MS
            missed = [next(blocks)]
            while missed[-1].event == "alert":  # the replay comes before the current state
                missed.append(next(blocks))
        assert missed[-1].event == "stats"
        replayed = missed[:-1]  # every transition since, whatever its type, numbered on
        assert [b.id for b in replayed] == [
            f"{boot}-{int(seq) + n + 1}" for n in range(len(replayed))
        ]
        mine = [b.json() for b in replayed if b.json()["event"]["type"] == type_]
        assert [m["transition"] for m in mine] == ["escalated", "closed"]
        assert {m["event"]["begin"] for m in mine} == {event["begin"]}
        assert mine[1]["event"]["end"] != -1


@pytest.mark.slow
def test_transitions_from_before_the_first_stream_are_resumed(tmp_path: Path) -> None:
    """The transitions are numbered from start-up, not from the first request Quart
    answers: an alert that fired while only the cached routes were read is sent to a
    stream resuming from an id it does not know (everything kept)."""
    watched = tmp_path / "watched"
    watched.mkdir()
    live = start_statbus(tmp_path, _alerting_config(watched))
    try:
        with httpx.Client(base_url=live.base, auth=AUTH, timeout=10.0) as http:
            (watched / "a").write_bytes(b"\0" * 2_000_000)
            deadline = time.monotonic() + 30
            while not http.get("/alert").json():  # the fast path: Quart is not loaded
                assert time.monotonic() < deadline, "no alert"
                time.sleep(0.3)
            query = {"plugins": "folders", "topics": "alerts"}
            resume = {"Last-Event-ID": "0-0"}
            with http.stream("GET", "/stream", params=query, headers=resume) as resp:
                blocks = read_sync(resp)
                opened = _wait_for_alert(blocks, f"FOLDERS_{str(watched).upper()}", "opened")
            assert (opened.id or "").endswith("-1")
    finally:
        assert live.stop() == 0


@pytest.mark.slow
def test_an_open_stream_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    """A client reading the stream when statbus is stopped: statbus exits in time, the
    client sees the stream cut off."""
    live = start_statbus(tmp_path, "[api]\nport = 0\n[global]\nrefresh = 1.0\n")
    connected = threading.Event()
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            with (
                httpx.Client(base_url=live.base, timeout=20.0) as http,
                http.stream("GET", "/stream") as resp,
            ):
                for block in read_sync(resp):
                    if block.event == "stats":
                        connected.set()
            outcome.append(None)
        except BaseException as exc:  # reported below, in the test's thread
            outcome.append(exc)
        finally:
            connected.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert connected.wait(20)
        assert live.stop() == 0  # within its 10 s, with the client still connected
    finally:
        reader.join(30)
    assert not reader.is_alive()
    (exc,) = outcome
    assert isinstance(exc, httpx.RemoteProtocolError)  # cut off: the server went away
    assert not [line for line in live.stderr_lines if "Traceback" in line]


@pytest.mark.slow
def test_a_stream_whose_reader_stalls_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    """hypercorn (trio) writes to a socket in a shielded cancel scope with no timeout,
    so a client that stops reading pins its connection task; the CLI's backstop ends
    the process shortly after the shutdown deadline (api/main.py), with status 0."""
    live = start_statbus(tmp_path, "[api]\nport = 0\n[global]\nrefresh = 1.0\n")
    transport = httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    try:
        with (
            httpx.Client(base_url=live.base, timeout=10.0, transport=transport) as http,
            http.stream("GET", "/stream") as resp,
        ):
            blocks = read_sync(resp)  # kept: a generator dropped half-read closes the response
            assert next(blocks).retry == stream_module.RETRY_MS
            deadline = time.monotonic() + 30
            while not any(s["dropped"] for s in _pipeline_streams(http)):  # it stalled
                assert time.monotonic() < deadline
                time.sleep(0.5)
            assert live.stop() == 0
        assert any("exiting anyway" in line for line in live.stderr_lines)
    finally:
        if live.proc.poll() is None:
            live.stop(signal.SIGKILL)


# -- against the app statbus serves, in process ----------------------------------------


@dataclass
class Served:
    bus: Bus
    state: StateStage
    port: int

    async def publish_stats(self, plugin: str, seq: int, data: Any) -> None:
        await self.bus.publish(STATS_TOPIC, StatEvent(plugin, float(seq), seq, data))

    async def publish_alert(self, n: int) -> None:
        event = {"type": f"T{n}", "state": "WARNING", "begin": n, "end": -1}
        await self.bus.publish(ALERTS_TOPIC, AlertEvent("opened", float(n), event))

    def streams(self) -> list[dict[str, Any]]:
        return _stream_subscribers(self.bus.subscribers())

    def stream_topics(self) -> dict[str, dict[str, Any]]:
        """The one open stream's subscribers by topic."""
        subs = {s["topic"]: s for s in self.streams()}
        assert len(subs) == len(self.streams())
        return subs

    @asynccontextmanager
    async def open(
        self,
        query: str = "",
        headers: dict[str, str] | None = None,
        *,
        rcvbuf: int | None = None,
    ) -> AsyncIterator[SseConnection]:
        """``GET /api/4/stream?<query>``; its ``retry:`` block is read already.  With
        ``rcvbuf`` the client's socket gets that receive buffer (the kernel then does
        not grow it)."""
        sock = trio.socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.connect(("127.0.0.1", self.port))
        async with trio.SocketStream(sock) as stream:
            conn = SseConnection(stream)
            await conn.request(f"/api/4/stream?{query}", headers or {})
            assert conn.status == 200
            assert (await conn.next_block()).retry == stream_module.RETRY_MS
            yield conn


@asynccontextmanager
async def serve_in_process() -> AsyncIterator[Served]:
    """The root app over one bus on a loopback port (``in_process.serve_root_app``)."""
    async with serve_root_app() as (bus, state, port):
        yield Served(bus, state, port)


async def test_heartbeats_come_at_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "HEARTBEAT_INTERVAL", 0.05)
    with trio.fail_after(20):
        async with serve_in_process() as served, served.open("topics=alerts") as sse:
            for _ in range(3):
                assert await sse.next_block() == Sse(comment="heartbeat")


async def test_alerts_have_increasing_ids_and_last_event_id_resumes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stream_module, "RESUME_SIZE", 4)
    monkeypatch.setattr(alert_log_module, "RESUME_SIZE", 4)
    with trio.fail_after(30):
        async with serve_in_process() as served:
            query = "topics=alerts"

            async def alerts(count: int, last_event_id: str) -> list[Sse]:
                """The first ``count`` blocks after ``retry:`` of a stream resumed."""
                async with served.open(query, {"Last-Event-ID": last_event_id}) as sse:
                    got = [await sse.next_block() for _ in range(count)]
                # the client is gone: so are its subscribers (the bus has no event for it)
                while served.streams():  # noqa: ASYNC110
                    await trio.sleep(0.01)
                return got

            # live: each transition once, numbered in order
            async with served.open(query) as sse:
                assert {s["topic"] for s in served.streams()} == {"alerts"}
                await served.publish_alert(1)
                await served.publish_alert(2)
                live = [await sse.next_event("alert"), await sse.next_event("alert")]
            assert [b.json()["event"]["type"] for b in live] == ["T1", "T2"]
            assert live[0].json() == {
                "transition": "opened",
                "ts": 1.0,
                "event": {"type": "T1", "state": "WARNING", "begin": 1, "end": -1},
            }
            boot = (live[0].id or "").partition("-")[0]
            assert [b.id for b in live] == [f"{boot}-1", f"{boot}-2"]

            # missed while disconnected: sent first on reconnect, then live
            for n in (3, 4, 5):
                await served.publish_alert(n)
            async with served.open(query, {"Last-Event-ID": f"{boot}-2"}) as sse:
                missed = [await sse.next_block() for _ in range(3)]
                await served.publish_alert(6)
                after = await sse.next_block()
            assert [(b.event, b.id) for b in missed] == [
                ("alert", f"{boot}-{n}") for n in (3, 4, 5)
            ]
            assert (after.event, after.id, after.json()["event"]["type"]) == (
                "alert",
                f"{boot}-6",
                "T6",
            )

            # older than what is kept (the last 4): said, then what is kept
            got = await alerts(5, f"{boot}-1")
            assert got[0].comment == f"1 alert transitions after {boot}-1 are no longer kept"
            assert [b.id for b in got[1:]] == [f"{boot}-{n}" for n in (3, 4, 5, 6)]

            # another process's id (statbus restarted): everything kept, said
            got = await alerts(5, "12-3")
            assert got[0].comment == (
                "Last-Event-ID '12-3' is not from this process: the 4 transitions in memory follow"
            )
            assert [b.id for b in got[1:]] == [f"{boot}-{n}" for n in (3, 4, 5, 6)]

            # a reader that keeps up loses none of a burst its buffer holds
            async with served.open(query) as sse:
                raws = [
                    AlertEvent("opened", float(n), {"type": f"T{n}"}).to_msgpack()
                    for n in range(7, 11)
                ]
                await served.bus.publish_many(ALERTS_TOPIC, raws)
                burst = [await sse.next_block() for _ in range(4)]
            assert [b.id for b in burst] == [f"{boot}-{n}" for n in range(7, 11)]


async def test_stats_and_views_follow_the_plugins_asked() -> None:
    with trio.fail_after(20):
        async with serve_in_process() as served:
            await served.publish_stats("cpu", 1, {"total": 1.0})
            await served.publish_stats("mem", 1, {"percent": 1.0})
            async with served.open("plugins=mem&topics=stats,views") as sse:
                current = await sse.next_block()  # at once: the state's
                assert (current.event, current.json()) == (
                    "stats",
                    {"plugin": "mem", "ts": 1.0, "data": {"percent": 1.0}},
                )
                assert {s["topic"] for s in served.streams()} == {"stats", "views"}
                await served.publish_stats("cpu", 2, {"total": 2.0})
                await served.publish_stats("mem", 2, {"percent": 2.0})
                cpu_views = ViewsEvent("cpu", 2.0, {"total": {"decoration": "OK"}}, [], {})
                await served.bus.publish(VIEWS_TOPIC, cpu_views)
                mem_views = ViewsEvent("mem", 2.0, {"percent": {"decoration": "OK"}}, [], {})
                await served.bus.publish(VIEWS_TOPIC, mem_views)
                stats = await sse.next_block()
                views = await sse.next_block()
            assert (stats.event, stats.json()["data"]) == ("stats", {"percent": 2.0})
            assert (views.event, views.json()) == (
                "views",
                {"plugin": "mem", "ts": 2.0, "views": {"percent": {"decoration": "OK"}}},
            )


async def test_a_reader_that_stops_reading_costs_a_bounded_queue_then_gets_the_latest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client stops reading; once the socket buffers are full the stream waits in
    ``send``, its subscribers hold at most their ``maxsize`` and the bus counts drops;
    when the client reads again it gets, after what the sockets held, the newest sample
    and the alert transitions still buffered, with a word on the ones dropped."""
    monkeypatch.setattr(stream_module, "RESUME_SIZE", 3)
    monkeypatch.setattr(alert_log_module, "RESUME_SIZE", 3)
    blob = "x" * 400_000  # a few of these fill the socket buffers
    with trio.fail_after(60):
        async with (
            serve_in_process() as served,
            served.open("plugins=cpu", rcvbuf=65536) as sse,
        ):
            subs = served.stream_topics()
            assert subs["stats"]["maxsize"] == 4  # two rounds of both plugins
            seq = 0
            # not reading: publish until the stream's subscriber has dropped samples
            while not served.stream_topics()["stats"]["dropped"]:
                seq += 1
                await served.publish_stats("cpu", seq, {"seq": seq, "blob": blob})
                await served.publish_stats("mem", seq, {"seq": seq})
                await trio.sleep(0.01)  # the stream task writes what it can
                for sub in served.streams():
                    assert sub["depth"] <= sub["maxsize"]
            for n in range(1, 6):  # five transitions: two more than it keeps
                await served.publish_alert(n)
            for _ in range(10):  # and more stale samples, still dropped
                seq += 1
                await served.publish_stats("cpu", seq, {"seq": seq, "blob": blob})
                await trio.lowlevel.checkpoint()
            subs = served.stream_topics()
            assert subs["stats"]["depth"] <= subs["stats"]["maxsize"]
            assert subs["stats"]["dropped"] >= 10
            assert subs["alerts"]["depth"] == subs["alerts"]["maxsize"] == 3
            assert subs["alerts"]["dropped"] == 2

            # reading again: what the sockets held, then the newest sample
            received: list[int] = []
            alert_blocks: list[Sse] = []
            while not received or received[-1] != seq or len(alert_blocks) < 4:
                block = await sse.next_block()
                if block.event == "stats":
                    received.append(block.json()["data"]["seq"])
                elif block.event == "alert" or block.comment:
                    alert_blocks.append(block)
            assert received == sorted(received)
            assert len(received) < seq  # stale samples were skipped, not queued
            assert alert_blocks[0].comment == "dropped 2 alert transitions: the reader is too slow"
            types = [b.json()["event"]["type"] for b in alert_blocks[1:]]
            assert types == ["T3", "T4", "T5"]
