"""Faults (issue #9): samplers that raise, hang or return garbage; a broker killed and
restarted; a webhook receiver down; a data directory read-only or full.  Each fault is
injected at a boundary of one real statbus (``serve`` in this process, real HTTP over
loopback, a real mosquitto), and the test checks that the rest keeps going and that
nothing is lost within the buffers ``docs/faults.md`` documents."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
import orjson
import pytest
import trio

from pipeline.bus import Policy
from pipeline.config import load
from pipeline.main import api_urls, serve
from pipeline.samplers import all_samplers
from pipeline.samplers.base import SampleContext, SamplerSpec
from pipeline.samplers.runner import STATS_TOPIC

#: every sampler runs, but no default-gateway ping (tests stay on loopback)
LOOPBACK = {"ports.port_default_gateway": False}
REFRESH = 0.5


# -- faulty samplers ------------------------------------------------------------------


def raising() -> SamplerSpec:
    def sample(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
        raise RuntimeError("sensor bus on fire")

    return SamplerSpec("sensors", ("sensors",), sample)


def hanging(release: threading.Event) -> SamplerSpec:
    def sample(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
        release.wait(timeout=60)  # "for ever": until the test ends
        return {}, None

    return SamplerSpec("wifi", ("wifi",), sample)


class Unserialisable:
    pass


HUGE = "x" * 1_000_000
#: one garbage answer per call, in turn: the contract broken every way we could think of
GARBAGE: list[Any] = [
    ["not", "a", "dict"],
    {"fs": [{"mnt_point": "/", "percent": Unserialisable()}]},
    # a dict where a list is expected, and scalars where either is
    {"fs": {"mnt_point": "/", "percent": "full"}, "gpu": "a string", "containers": 42},
    # wrong types, NaN and infinities inside entries, entries that are not dicts
    {
        "fs": [
            {"mnt_point": "/", "percent": math.nan, "size": "big", "used": None},
            {"mnt_point": None, "percent": math.inf, "device_name": ["a", "list"]},
            7,
            None,
            ["x"],
        ],
        "gpu": [{"gpu_id": math.nan, "proc": -math.inf, "mem": "lots"}],
        "containers": [{"name": {"nested": "dict"}, "cpu_percent": math.nan}],
    },
    # huge strings, as a value and as a key
    {"fs": [{"mnt_point": HUGE, "device_name": HUGE, "percent": 5.0, HUGE[:100_000]: 1}]},
    # a plugin nobody asked for, and a valid answer (so the family recovers in between)
    {"nosuchplugin": [1], "fs": [], "gpu": [], "containers": []},
]


def garbage(calls: list[int]) -> SamplerSpec:
    def sample(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
        n = len(calls)
        calls.append(n)
        return GARBAGE[n % len(GARBAGE)], None

    return SamplerSpec("fs", ("fs", "gpu", "containers"), sample)


FAULTY = {"sensors", "wifi", "fs", "gpu", "containers"}


def with_faulty(release: threading.Event, calls: list[int]) -> list[SamplerSpec]:
    healthy = [s for s in all_samplers() if not set(s.plugins) & FAULTY]
    return [*healthy, raising(), hanging(release), garbage(calls)]


# -- 1. faulty samplers -------------------------------------------------------------


async def healthy_gaps(running: Any, plugin: str, seconds: float) -> list[float]:
    """The gaps between ``plugin``'s publications on the bus over ``seconds``."""
    arrivals: list[float] = []
    with running.bus.subscribe(STATS_TOPIC, name="t-cadence", policy=Policy.LOSSLESS) as sub:
        with trio.move_on_after(seconds):
            async for event in sub:
                if event.plugin == plugin:
                    arrivals.append(trio.current_time())
    return [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]


class Dropped(Exception):
    """The server closed a keep-alive connection while a request was in flight."""


async def get(stream: trio.SocketStream, conn: h11.Connection, target: str) -> tuple[int, bytes]:
    """One GET on a keep-alive connection: ``(status, body)``."""
    request = h11.Request(method="GET", target=target, headers=[("host", "statbus")])
    await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
    status, body = 0, b""
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise Dropped(target) from exc
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, body


async def hammer(
    base: str, stop: trio.Event, answers: list[tuple[str, int]], dropped: list[str]
) -> None:
    """GET a round of routes on keep-alive connections (a bare h11 client), over and over
    until ``stop``; every answer recorded and its body checked to be JSON.

    A connection the server closes with a request in flight is recorded in ``dropped``
    and replaced.  That happens about once in a few thousand requests at this rate with
    no fault at all (seen with httpx too; reported, see the issue's notes), so the test
    bounds it instead of failing on the first one."""
    url = urlsplit(base)
    assert url.hostname is not None and url.port is not None
    paths = ["/all", "/cpu", "/fs", "/gpu", "/containers", "/sensors", "/pipeline", "/fs/history"]
    while not stop.is_set():
        stream = await trio.open_tcp_stream(url.hostname, url.port)
        async with stream:
            conn = h11.Connection(h11.CLIENT)
            try:
                while not stop.is_set() and conn.our_state is not h11.MUST_CLOSE:
                    for path in paths:
                        status, body = await get(stream, conn, url.path + path)
                        orjson.loads(body)  # JSON, whatever the status
                        answers.append((path, status))
                        if conn.our_state is h11.MUST_CLOSE:  # hypercorn's keep-alive cap
                            break
                        conn.start_next_cycle()
            except Dropped as exc:
                dropped.append(str(exc))


@pytest.mark.slow
async def test_faulty_samplers_leave_the_others_on_cadence_and_the_api_answering() -> None:
    """A sampler raising on every call, one hanging for ever and one returning garbage
    of every kind run in one statbus beside the real ones: the healthy plugins keep
    their cadence (measured: the gaps between cpu's publications stay within the
    interval plus a generous margin), every HTTP request is answered (no 5xx) while
    the faults go on, and ``/api/4/pipeline`` shows each faulty family with its error,
    count and backoff."""
    release = threading.Event()
    calls: list[int] = []
    config = load(
        overrides={
            "api.port": 0,
            "global.refresh": REFRESH,
            "global.sampler_timeout": 1.0,
            "global.retry_initial": 0.1,
            "global.retry_max": 0.4,
            "fs.refresh": REFRESH,  # the garbage family, on one beat
            **LOOPBACK,
        }
    )
    answers: list[tuple[str, int]] = []
    dropped: list[str] = []
    try:
        with trio.fail_after(40):
            async with trio.open_nursery() as nursery:
                running = await nursery.start(
                    partial(serve, config, specs=with_faulty(release, calls))
                )
                base = api_urls(running, config)[0]
                stop = trio.Event()
                nursery.start_soon(hammer, base, stop, answers, dropped)
                gaps = await healthy_gaps(running, "cpu", 5.0)
                stop.set()
                async with httpx.AsyncClient(timeout=10) as client:
                    pipeline = (await client.get(f"{base}/pipeline")).json()
                    fs = await client.get(f"{base}/fs")
                running.shutdown.set()
    finally:
        release.set()

    # cadence: every gap within the interval plus a generous margin (a busy 2-core
    # machine), and about as many samples as the window holds
    assert len(gaps) >= 5.0 / REFRESH - 3, gaps
    assert max(gaps) < REFRESH + 1.0, gaps
    # the garbage sampler went through every kind of garbage at least once
    assert len(calls) >= len(GARBAGE), calls
    # the API answered every request, with JSON and no server error
    assert len(answers) >= 16, answers
    assert not [a for a in answers if a[1] >= 500], [a for a in answers if a[1] >= 500]
    assert {path for path, status in answers if status == 200} >= {"/all", "/fs", "/pipeline"}
    assert len(dropped) <= max(2, len(answers) // 500), dropped
    assert fs.status_code == 200 and isinstance(fs.json(), list)
    # /pipeline shows the faulty ones: the error, how many, and the backoff
    samplers = pipeline["samplers"]
    sensors = samplers["sensors"]
    assert sensors["state"] == "failing"
    assert sensors["last_error"] == "RuntimeError: sensor bus on fire"
    assert sensors["failures"] >= 3 and sensors["consecutive_failures"] >= 3
    assert sensors["runs"] == 0
    assert 0 < sensors["backoff"] <= 0.4
    wifi = samplers["wifi"]
    assert wifi["state"] == "failing" and wifi["solo"] is True
    assert wifi["last_error"].startswith("SamplerTimeout") and wifi["failures"] >= 1
    assert wifi["backoff"] > 0
    fs_status = samplers["fs"]
    assert fs_status["failures"] >= 2 and fs_status["runs"] >= 1  # failed, recovered
    assert samplers["cpu"]["state"] == "ok" and samplers["cpu"]["failures"] == 0
    assert samplers["cpu"]["backoff"] is None


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tiny tmpfs of its own (so that the test can fill it, or make it read-only:
    ``chmod`` does not stop root); skipped where mounting is not permitted."""
    import subprocess

    where = tmp_path / "data"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
