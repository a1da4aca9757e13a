"""hypercorn's limits (``api/server_limits.py``) and the stream's, against hostile clients.

The app statbus serves (``create_root_app``: the fast path, Quart on first use) runs on an
in-process hypercorn configured by ``apply_limits``, on a loopback port; the clients are
raw sockets.  The timeouts are shortened here (the module's constants, read when the
limits are applied) so that the tests take seconds; ``test_the_limits_are_applied``
checks the real values are the ones ``docs/api.md`` states.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from hypercorn.config import Config as HypercornConfig

from api import openapi_paths, server_limits
from api import stream as stream_module
from pipeline.bus import Bus
from pipeline.events import StatEvent
from pipeline.stages.state import StateStage
from pipeline.topics import STATS_TOPIC
from tests.api.in_process import Answer, parse_head, serve_root_app

#: hypercorn's own keep-alive timeout: the tests' deadlines must not be met by it
HYPERCORN_DEFAULT_KEEP_ALIVE = HypercornConfig().keep_alive_timeout
API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


async def read_answer(stream: trio.SocketStream, *, head_only: bool = False) -> Answer:
    """One HTTP/1.1 answer with a Content-Length (``head_only``: the head alone)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise EOFError(f"closed after {data!r}")
        data += chunk
    answer = parse_head(data)
    if head_only:
        return answer
    length = int(answer.headers.get("content-length", "0"))
    while len(answer.body) < length:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise EOFError(f"closed in the body of {data!r}")
        answer.body += chunk
    return answer


async def closed_by_server(stream: trio.SocketStream) -> bytes:
    """Everything the server sends until it closes (an error if it resets)."""
    got = b""
    while chunk := await stream.receive_some(65536):
        got += chunk
    return got


@dataclass
class Served:
    bus: Bus
    state: StateStage
    port: int

    async def connect(
        self, rcvbuf: int | None = None, source: str = "127.0.0.1"
    ) -> trio.SocketStream:
        sock = trio.socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.bind((source, 0))
        await sock.connect(("127.0.0.1", self.port))
        return trio.SocketStream(sock)

    async def get(self, path: str, extra: bytes = b"") -> Answer:
        """A GET on a new connection."""
        async with await self.connect() as stream:
            await stream.send_all(b"GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path.encode(), extra))
            return await read_answer(stream)

    def streams(self) -> list[dict[str, Any]]:
        return [s for s in self.bus.subscribers() if s["name"].startswith("stream#")]


@asynccontextmanager
async def serve_with_limits() -> AsyncIterator[Served]:
    """The root app with statbus's limits, with one cpu sample in its state."""
    async with serve_root_app(limits=True) as (bus, state, port):
        await bus.publish(STATS_TOPIC, StatEvent("cpu", 1.0, 1, {"total": 1.0}))
        yield Served(bus, state, port)


def test_the_limits_are_applied_and_documented() -> None:
    hc = HypercornConfig()
    server_limits.apply_limits(hc)
    assert hc.keep_alive_timeout == server_limits.KEEP_ALIVE_TIMEOUT
    assert hc.read_timeout is None  # a stream's client sends nothing while it reads
    assert hc.h11_max_incomplete_size == server_limits.MAX_HEAD_BYTES
    assert hc.h2_max_header_list_size == server_limits.MAX_HEAD_BYTES
    assert hc.ssl_handshake_timeout == server_limits.SSL_HANDSHAKE_TIMEOUT
    doc = API_DOC.read_text()
    section = doc[doc.index("## Limits") :]
    for figure in (
        f"{server_limits.KEEP_ALIVE_TIMEOUT} s",
        f"{server_limits.MAX_HEAD_BYTES // 1024} KiB",
        f"{server_limits.WRITE_TIMEOUT} s",
        f"{server_limits.MAX_BODY_BYTES // 1024} KiB",
        f"{server_limits.SSL_HANDSHAKE_TIMEOUT} s",
        f"{stream_module.MAX_STREAMS} streams",
    ):
        assert figure in section, figure
    stream_doc = openapi_paths.own_paths()["/api/4/stream"]["get"]["description"]
    assert f"At most {stream_module.MAX_STREAMS} streams" in stream_doc
    assert f"for {server_limits.WRITE_TIMEOUT} s is disconnected" in stream_doc
    # the listening sockets pass the write timeout to every connection they accept
    sockets = hc.create_sockets()
    try:
        (sock,) = sockets.insecure_sockets
        got = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
        assert got == server_limits.WRITE_TIMEOUT * 1000
    finally:
        for sock in sockets.insecure_sockets:
            sock.close()


async def test_a_slowloris_client_is_closed_at_the_head_deadline_while_others_are_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that trickles its headers a few bytes at a time is closed once the
    head deadline passes, however busy it keeps the socket; meanwhile, and after, other
    clients (fast path and Quart) are answered."""
    monkeypatch.setattr(server_limits, "KEEP_ALIVE_TIMEOUT", 1)
    with trio.fail_after(30):
        async with serve_with_limits() as served:
            slow = await served.connect()
            await slow.send_all(b"GET /api/4/status HTTP/1.1\r\nHost: t\r\n")
            started = trio.current_time()
            trickled = 0  # header lines sent: each would have reset a per-read timer
            answered = 0
            async with slow:
                while True:
                    try:
                        await slow.send_all(b"X: y\r\n")
                    except trio.BrokenResourceError:
                        break  # reset: closed
                    trickled += 1
                    with trio.move_on_after(0.2):
                        if await closed_by_server(slow) == b"":
                            break
                    for path in ("/api/4/cpu", "/api/4/cpu/total"):
                        assert (await served.get(path)).status == 200
                        answered += 1
                    assert trio.current_time() - started < 15, "never closed"
            elapsed = trio.current_time() - started
            # the 1 s deadline, with a margin, not hypercorn's default (5 s)
            assert 0.9 < elapsed < HYPERCORN_DEFAULT_KEEP_ALIVE - 0.5
            assert trickled >= 3
            assert answered >= 2
            assert (await served.get("/api/4/status")).status == 200


async def test_many_idle_connections_do_not_stop_others_being_served_and_are_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_limits, "KEEP_ALIVE_TIMEOUT", 1)
    with trio.fail_after(40):
        async with serve_with_limits() as served:
            idle = [await served.connect() for _ in range(150)]
            connected = trio.current_time()
            for i, stream in enumerate(idle):
                if i % 2:  # half say nothing, half start a request line
                    await stream.send_all(b"GET /api/4/")
            assert (await served.get("/api/4/cpu")).status == 200  # fast path
            assert (await served.get("/api/4/cpu/limits")).status == 200  # Quart
            closed = 0
            for stream in idle:  # each is closed by the server (EOF), none answered
                assert await closed_by_server(stream) == b""
                closed += 1
                await stream.aclose()
            assert closed == len(idle)
            # by the 1 s deadline, with a margin, not hypercorn's default (5 s)
            assert trio.current_time() - connected < HYPERCORN_DEFAULT_KEEP_ALIVE - 0.5
            assert (await served.get("/api/4/status")).status == 200


@pytest.mark.parametrize("path", ["/api/4/cpu", "/api/4/cpu/limits"])
async def test_an_oversize_header_block_is_refused(path: str) -> None:
    """A 1 MB header, or many small headers past the head limit: hypercorn answers 431
    (empty body) and closes, or the connection is reset while the client still sends;
    either way no answer from the app, and the server keeps answering.  Many headers
    within the limit are served."""
    with trio.fail_after(30):
        async with serve_with_limits() as served:
            for extra in (
                b"X-Big: " + b"a" * 1_000_000 + b"\r\n",
                b"".join(b"X-%d: v\r\n" % i for i in range(9000)),  # ~100 KiB
            ):
                async with await served.connect() as stream:
                    request = b"GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path.encode(), extra)
                    try:
                        await stream.send_all(request)
                        answer = await read_answer(stream)
                    except (trio.BrokenResourceError, EOFError):
                        pass  # reset while still sending
                    else:
                        assert answer.status == 431
                        assert answer.body == b""
                        assert await closed_by_server(stream) == b""
                assert (await served.get(path)).status == 200
            many = b"".join(b"X-%d: v\r\n" % i for i in range(900))  # ~9 KiB
            assert (await served.get(path, many)).status == 200


async def test_streams_beyond_the_cap_are_503_with_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stream_module, "MAX_STREAMS", 2)
    request = b"GET /api/4/stream HTTP/1.1\r\nHost: t\r\n\r\n"
    with trio.fail_after(30):
        async with serve_with_limits() as served:
            for _ in range(6):  # clients that leave at once free their place
                async with await served.connect() as gone:
                    await gone.send_all(request)
            while served.streams():  # noqa: ASYNC110
                await trio.sleep(0.02)
            first, second = await served.connect(), await served.connect()
            for stream in (first, second):
                await stream.send_all(request)
                assert (await read_answer(stream, head_only=True)).status == 200
            extra = await served.get("/api/4/stream")
            assert extra.status == 503
            assert extra.headers["retry-after"] == str(stream_module.BUSY_RETRY_AFTER)
            assert re.fullmatch(r"Too many open streams \(at most 2\).*", extra.detail())
            assert (await served.get("/api/4/cpu/limits")).status == 200  # others are fine
            await first.aclose()  # one leaves: its place is free again
            while len({s["name"] for s in served.streams()}) > 1:  # noqa: ASYNC110
                await trio.sleep(0.02)
            async with await served.connect() as third:
                await third.send_all(request)
                assert (await read_answer(third, head_only=True)).status == 200
            await second.aclose()


async def test_one_address_cannot_take_every_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "MAX_STREAMS_PER_CLIENT", 2)
    request = b"GET /api/4/stream HTTP/1.1\r\nHost: t\r\n\r\n"
    with trio.fail_after(30):
        async with serve_with_limits() as served:
            mine = [await served.connect(), await served.connect()]
            for stream in mine:
                await stream.send_all(request)
                assert (await read_answer(stream, head_only=True)).status == 200
            extra = await served.get("/api/4/stream")
            assert extra.status == 429
            assert extra.headers["retry-after"] == str(stream_module.BUSY_RETRY_AFTER)
            assert extra.detail().startswith("Too many open streams from this address")
            async with await served.connect(source="127.0.0.2") as other:
                await other.send_all(request)
                assert (await read_answer(other, head_only=True)).status == 200
            for stream in mine:
                await stream.aclose()


async def test_a_stream_client_that_never_reads_is_dropped_by_the_write_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """hypercorn's socket write cannot be cancelled from the app; the kernel's
    TCP_USER_TIMEOUT on the API's sockets fails it once the client has taken nothing
    for that long: the connection closes and the stream leaves the bus."""
    monkeypatch.setattr(server_limits, "WRITE_TIMEOUT", 1)
    blob = "x" * 200_000
    with trio.fail_after(20):
        async with serve_with_limits() as served:
            async with await served.connect(rcvbuf=4096) as stalled:
                await stalled.send_all(b"GET /api/4/stream?plugins=cpu HTTP/1.1\r\nHost: t\r\n\r\n")
                seq = 1
                while not served.streams():  # noqa: ASYNC110
                    await trio.sleep(0.02)
                # not reading: publish until the stream's subscriber drops samples (its
                # task is stuck in the socket write), then until the stream is gone
                dropped = 0
                while subs := served.streams():
                    dropped = max(dropped, *(s["dropped"] for s in subs))
                    seq += 1
                    await served.bus.publish(
                        STATS_TOPIC, StatEvent("cpu", float(seq), seq, {"blob": blob})
                    )
                    await trio.sleep(0.05)
                assert dropped > 0  # it did stall first
                assert (await served.get("/api/4/cpu")).status == 200
                with pytest.raises(trio.BrokenResourceError):  # reset by the server
                    while await stalled.receive_some(65536):
                        pass
