"""A real HTTP receiver on a loopback port (h11 on trio), scripted per request."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
import orjson
import trio

from pipeline import config as cfg
from pipeline.bus import Bus
from pipeline.events import AlertEvent
from pipeline.topics import ALERTS_TOPIC
from tests.polling import WITHIN, until

HANG = "hang"
EPOCH = 1_700_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    at: float  # time.monotonic()
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class HttpReceiver:
    """Answers each request with the next scripted ``(status, headers, body)`` or
    :data:`HANG`; 200 once the script is used up."""

    script: list[Any] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = None, b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:  # closed by the client
                        return
                assert request is not None
                headers = {k.decode().lower(): v.decode() for k, v in request.headers}
                self.requests.append(
                    Received(time.monotonic(), request.target.decode(), headers, body)
                )
                answer = self.script.pop(0) if self.script else (200, {}, b"ok")
                if answer == HANG:
                    await trio.sleep_forever()
                status, extra, text = answer
                out = [("content-length", str(len(text))), *extra.items()]
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=out)))
                await stream.send_all(conn.send(h11.Data(data=text)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                conn.start_next_cycle()
        except (h11.RemoteProtocolError, h11.LocalProtocolError, trio.BrokenResourceError):
            return
        finally:
            await stream.aclose()

    async def wait_for(self, n: int, within: float = WITHIN) -> list[Received]:
        """Until ``n`` requests came in; all of them."""
        await until(lambda: len(self.requests) >= n, within=within)
        return self.requests


def webhook_config(tmp: Any, *hooks: dict[str, Any]) -> cfg.Config:
    return cfg.from_mapping({"global": {"data_dir": str(tmp)}, "webhooks": list(hooks)})


def event(
    state: str = "WARNING",
    type_: str = "CPU_TOTAL",
    begin: int = EPOCH,
    end: float = -1,
    **more: Any,
) -> dict[str, Any]:
    return {
        "begin": begin,
        "state": state,
        "type": type_,
        "min": 71.0,
        "max": 92.5,
        "sum": 163.5,
        "count": 2,
        "avg": 81.75,
        "top": ["python3", "cc1"],
        "desc": "",
        "sort": "cpu_percent",
        "global_msg": "High CPU user mode",
        "end": end,
        **more,
    }


async def publish(bus: Bus, transition: str, ev: dict[str, Any], ts: float = EPOCH) -> None:
    await bus.publish(ALERTS_TOPIC, AlertEvent(transition, ts, ev))


Check = Callable[[list[Received]], bool]
