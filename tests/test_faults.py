"""Faults (issue #9): samplers that raise, hang or return garbage; a broker killed and
restarted; a webhook receiver down; a data directory read-only or full.  Each fault is
injected at a boundary of one real statbus (``serve`` in this process, real HTTP over
loopback, a real mosquitto), and the test checks that the rest keeps going and that
nothing is lost within the buffers ``docs/faults.md`` documents."""

from __future__ import annotations

import logging
import math
import signal
import statistics
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
import orjson
import pytest
import trio

from api.main import api_urls, serve
from pipeline.bus import Policy
from pipeline.config import from_mapping, load
from pipeline.runner import SampleContext, SamplerSpec
from pipeline.samplers import all_samplers
from pipeline.topics import STATS_TOPIC
from tests.conftest import QUIET_CPU
from tests.polling import until
from tests.sinks.conftest import Broker, Subscriber, mosquitto_binary
from tests.sinks.webhook_helpers import HttpReceiver

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
    # list entries that are not dicts
    {"fs": [{"mnt_point": "/", "percent": 5.0}, 7, None, ["x"]], "gpu": [], "containers": []},
    # the right shapes, with wrong types, NaN and infinities inside the entries: passed
    # on, and every stage and the API must cope
    {
        "fs": [
            {"mnt_point": "/", "percent": math.nan, "size": "big", "used": None},
            {"mnt_point": None, "percent": math.inf, "device_name": ["a", "list"]},
            {"mnt_point": "/x", "percent": "full", "used": -math.inf, "size": {"a": 1}},
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


async def healthy_gaps(
    running: Any, plugin: str, samples: int, seen: list[Any] | None = None
) -> list[float]:
    """The gaps between ``plugin``'s next ``samples`` publications on the bus (every
    event of the other plugins goes to ``seen``)."""
    arrivals: list[float] = []
    with running.bus.subscribe(STATS_TOPIC, name="t-cadence", policy=Policy.LOSSLESS) as sub:
        async for event in sub:
            if event.plugin == plugin:
                arrivals.append(trio.current_time())
                if len(arrivals) > samples:
                    break
            elif seen is not None:
                seen.append(event)
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
    (and replaced).  The caller waits for this to return before shutting the server
    down: a shutdown closes keep-alive connections, and would drop a request sent just
    before it."""
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
                        if stop.is_set():
                            return
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
    count and backoff.

    The test watches a number of samples and answers, not a time window: a loaded
    machine makes it last longer, not fail."""
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
        with trio.fail_after(90):
            async with trio.open_nursery() as nursery:
                running = await nursery.start(
                    partial(serve, config, specs=with_faulty(release, calls))
                )
                base = api_urls(running, config)[0]
                stop = trio.Event()
                hammered = trio.Event()

                async def hammer_then_tell() -> None:
                    await hammer(base, stop, answers, dropped)
                    hammered.set()

                nursery.start_soon(hammer_then_tell)
                published: list[Any] = []
                gaps = await healthy_gaps(running, "cpu", 10, published)
                # the garbage sampler has gone through every kind of garbage, the
                # raising one has failed a few times, and the API has answered a few
                # rounds of requests meanwhile
                await until(lambda: len(calls) >= len(GARBAGE) and len(answers) >= 16)
                async with httpx.AsyncClient(timeout=10) as client:

                    async def failed_enough() -> Any:
                        got = (await client.get(f"{base}/pipeline")).json()
                        return got if got["samplers"]["sensors"]["failures"] >= 3 else None

                    pipeline = await until(failed_enough)
                    stop.set()
                    await hammered.wait()
                    fs = await client.get(f"{base}/fs")
                running.shutdown.set()
    finally:
        release.set()

    # cadence: the samples keep their beat (the median gap is the interval: a hung or
    # raising sampler would hold every round up), and no gap is longer than a safety
    # margin (a busy 2-core machine may make one beat late, never a sampler's fault)
    assert statistics.median(gaps) < 1.5 * REFRESH, gaps
    assert max(gaps) < REFRESH + 3.0, gaps
    # the garbage sampler went through every kind of garbage at least once; of the
    # kinds in a valid shape, the one with wrong types inside went out to the stages
    assert len(calls) >= len(GARBAGE), calls
    fs_published = [e.data for e in published if e.plugin == "fs"]
    assert any(entry.get("percent") == "full" for data in fs_published for entry in data)
    assert not any(isinstance(data, dict) for data in fs_published)
    # the API answered every request, with JSON and no server error
    assert len(answers) >= 16, answers
    assert not [a for a in answers if a[1] >= 500], [a for a in answers if a[1] >= 500]
    assert {path for path, status in answers if status == 200} >= {"/all", "/fs", "/pipeline"}
    assert not dropped, dropped
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


# -- 2. a broker, a receiver and the data directory go away and come back -----------------

DEVICE = "faults"


class Memory:
    """The memory family, at levels the test sets: events open and escalate on demand."""

    def __init__(self) -> None:
        self.percent = {"mem": 10.0, "memswap": 10.0}

    def spec(self) -> SamplerSpec:
        def sample(previous: Any, ctx: SampleContext) -> tuple[dict[str, Any], Any]:
            return {
                plugin: {
                    "total": 1000,
                    "used": round(10 * p),
                    "free": round(1000 - 10 * p),
                    "percent": p,
                }
                for plugin, p in self.percent.items()
            }, None

        return SamplerSpec("memory", ("mem", "memswap"), sample)


@dataclass
class Faulty:
    """One statbus with MQTT and a webhook, its data directory on a tmpfs."""

    running: Any
    base: str
    memory: Memory
    broker: Broker
    subscriber: Subscriber
    receiver: HttpReceiver
    data: Path
    nursery: trio.Nursery
    receiver_scope: trio.CancelScope | None = None

    async def api(self, path: str) -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(self.base + path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    async def mqtt_state(self) -> str:
        return str((await self.api("/pipeline"))["sinks"]["mqtt"]["state"])

    async def webhook(self) -> dict[str, Any]:
        (receiver,) = (await self.api("/pipeline"))["sinks"]["webhooks"].values()
        return dict(receiver)

    async def receiver_up(self) -> None:
        async def serve(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            with trio.CancelScope() as self.receiver_scope:
                await self.receiver.serve(task_status=task_status)

        await self.nursery.start(serve)

    def receiver_down(self) -> None:
        assert self.receiver_scope is not None
        self.receiver_scope.cancel()  # its listener closes: connections are refused

    def delivered(self, event_type: str) -> list[tuple[str, str]]:
        bodies = [r.json() for r in self.receiver.requests]
        return [
            (b["transition"], b["event"]["state"])
            for b in bodies
            if b["event"]["type"] == event_type
        ]

    def mqtt_transitions(self, event_type: str) -> list[str]:
        got = [
            orjson.loads(m.payload) for m in self.subscriber.received(f"glances/{DEVICE}/events")
        ]
        return [m["transition"] for m in got if m["event"]["type"] == event_type]

    def mqtt_count(self, plugin: str) -> int:
        return len(self.subscriber.received(f"glances/{DEVICE}/{plugin}"))


@asynccontextmanager
async def faulty_statbus(tmp_path: Path, data: Path) -> AsyncIterator[Faulty]:
    broker = Broker(mosquitto_binary(), tmp_path, persistent=True)
    receiver = HttpReceiver()
    memory = Memory()
    config = from_mapping(
        {
            "global": {
                "refresh": REFRESH,
                "data_dir": str(data),
                # the MQTT sink reconnects after retry_initial, doubling up to retry_max
                "retry_initial": 0.2,
                "retry_max": 1.0,
            },
            "api": {"port": 0},
            "ports": {"port_default_gateway": False},
            # the events counted below are the test's own (MEM, MEMSWAP): none opens
            # because the machine's CPU is busy
            **QUIET_CPU,
            "mqtt": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": broker.port,
                "devicename": DEVICE,
                "plugins": ["cpu", "mem", "memswap"],
            },
            "webhooks": [
                {
                    "url": receiver.url,
                    "backoff_initial": 0.2,
                    "backoff_max": 0.5,
                    "max_attempts": 100,
                }
            ],
        }
    )
    specs = [s for s in all_samplers() if s.name != "memory"] + [memory.spec()]
    subscriber = Subscriber(broker.port, f"glances/{DEVICE}/#", client_id="statbus-faults-test")
    try:
        broker.start()
        with trio.fail_after(90):
            async with trio.open_nursery() as nursery:
                faulty = Faulty(
                    None,
                    "",
                    memory,
                    broker,
                    subscriber,
                    receiver,
                    data,
                    nursery,
                )
                await faulty.receiver_up()
                running = await nursery.start(partial(serve, config, specs=specs))
                faulty.running, faulty.base = running, api_urls(running, config)[0]
                await subscriber.start()
                await until(lambda: faulty.mqtt_count("cpu") > 0)
                yield faulty
                running.shutdown.set()
                nursery.cancel_scope.cancel()
    finally:
        subscriber.stop()
        broker.stop()


@pytest.mark.slow
async def test_a_killed_broker_and_a_receiver_that_is_down_lose_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker is killed (SIGKILL) and started again; later the webhook receiver is
    down for a while.  During each outage the fault is logged and retried, the API
    answers and the other sink delivers; once it is over, what happened meanwhile
    arrives: the alert transition on MQTT (from the sink's queue), the webhook (from
    the receiver's queue), and MQTT's stats resume."""
    caplog.set_level(logging.INFO)
    async with faulty_statbus(tmp_path, tmp_path / "data") as s:
        # -- the broker dies; a MEM event opens meanwhile
        await s.subscriber.sync_broker_state(s.broker)  # its session survives the SIGKILL
        s.broker.stop(signal.SIGKILL)
        await until(async_not_connected(s))
        s.memory.percent["mem"] = 95.0
        await until(lambda: ("opened", "CRITICAL") in s.delivered("MEM"))  # the webhook
        assert (await s.api("/mem"))["percent"] == 95.0  # the API
        assert (await s.api("/pipeline"))["sinks"]["mqtt"]["state"] != "connected"
        assert s.mqtt_transitions("MEM") == []
        # -- the broker is back: the transition made meanwhile, and fresh stats
        before = s.mqtt_count("cpu")
        s.broker.start()
        await until(lambda: s.mqtt_transitions("MEM") == ["opened"], within=15)
        await until(lambda: s.mqtt_count("cpu") > before + 2)
        assert logged(caplog, "mqtt: connection to", "lost")

        # -- the receiver is down; a MEMSWAP event opens meanwhile
        s.receiver_down()
        s.memory.percent["memswap"] = 75.0
        await until(lambda: s.mqtt_transitions("MEMSWAP") == ["opened"])  # MQTT
        await until(async_retried(s, 2))
        receiver = await s.webhook()
        assert receiver["pending"] == 1 and "Connect" in str(receiver["last_error"]), receiver
        assert s.delivered("MEMSWAP") == []
        assert (await s.api("/memswap"))["percent"] == 75.0  # the API
        cpu_before = s.mqtt_count("cpu")
        await until(lambda: s.mqtt_count("cpu") > cpu_before)  # MQTT goes on
        assert logged(caplog, "webhook", "failed", "retrying")
        # -- the receiver is back: the delivery arrives, once
        await s.receiver_up()
        await until(lambda: s.delivered("MEMSWAP") == [("opened", "WARNING")])
        assert (await s.webhook())["pending"] == 0
        ids = [r.headers["x-statbus-delivery"] for r in s.receiver.requests]
        assert len(ids) == len(set(ids)) == 2  # MEM, MEMSWAP: each once


def async_not_connected(s: Faulty) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await s.mqtt_state() != "connected"

    return check


def async_retried(s: Faulty, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return int((await s.webhook())["retried"]) >= n

    return check


def logged(caplog: pytest.LogCaptureFixture, *parts: str) -> bool:
    return any(all(p in r.getMessage() for p in parts) for r in caplog.records)


def on_disk(data: Path, plugin: str, name: str) -> list[float]:
    """The timestamps of one history series in the data directory's database (none
    while there is no database, or no table yet)."""
    import sqlite3

    try:
        # mode=rw: never created by this reader
        uri = f"file:{data / 'history.sqlite'}?mode=rw"
        with closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            rows = db.execute(
                "SELECT p.ts FROM points p JOIN series s ON s.id = p.series"
                " WHERE s.plugin = ? AND s.name = ? ORDER BY p.ts",
                (plugin, name),
            ).fetchall()
    except sqlite3.OperationalError:
        return []
    return [ts for (ts,) in rows]


def saved_events(data: Path) -> list[tuple[str, str]]:
    try:
        saved = orjson.loads((data / "events.json").read_bytes())
    except (OSError, ValueError):
        return []
    return [(e["type"], e["state"]) for e in saved["events"]]


def fill(filler: Path) -> None:
    """Append to ``filler`` until its file system has no byte left."""
    import os

    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass  # no room for one more of this size
    finally:
        os.close(fd)


async def keep_full(filler: Path, stop: trio.Event) -> None:
    """Keep the disk full, as other writers do: what statbus frees (SQLite removes its
    log when it closes the database) is taken again at once."""
    while not stop.is_set():
        fill(filler)
        with trio.move_on_after(0.02):
            await stop.wait()


def remount(where: Path, mode: str) -> None:
    import subprocess

    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["full", "read-only"])
async def test_a_full_or_read_only_data_dir_is_written_again_once_it_is_back(
    tmp_path: Path, tmpfs: Path, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    """The data directory (a tmpfs of its own) fills up while statbus runs, or is
    read-only from the start; an alert opens meanwhile.  The failed saves are logged
    and retried, the sinks deliver and the API answers; once the disk has room again
    (is writable again) the events list is saved with the new event, and the history
    points taken while it was away are on disk."""
    caplog.set_level(logging.INFO)
    filler, cleared = tmpfs / "filler", trio.Event()
    if fault == "read-only":
        # from the start: a file system with files open for writing cannot be remounted
        # read-only (EBUSY), and a read-only bind mount would not stop the open ones
        remount(tmpfs, "ro")
    async with faulty_statbus(tmp_path, tmpfs) as s:
        if fault == "full":
            await until(lambda: len(on_disk(tmpfs, "mem", "percent")) >= 2)
            fill(filler)
            s.nursery.start_soon(keep_full, filler, cleared)
        away = time.time()
        try:
            s.memory.percent["memswap"] = 75.0  # an event opens while the disk is away
            await until(lambda: ("opened", "WARNING") in s.delivered("MEMSWAP"))  # webhook
            await until(lambda: s.mqtt_transitions("MEMSWAP") == ["opened"])  # MQTT
            assert (await s.api("/memswap"))["percent"] == 75.0  # the API
            await until(lambda: logged(caplog, "alerts: cannot save", "retrying"))
            await until(lambda: logged(caplog, "history: cannot write to disk"))
            await trio.sleep(1.0)
            assert ("MEMSWAP", "WARNING") not in saved_events(tmpfs)
        finally:
            cleared.set()
            if fault == "full":
                await trio.sleep(0.1)  # keep_full has stopped
                filler.unlink()
            else:
                remount(tmpfs, "rw")
        back = time.time()
        # saved again, with backoff: the alerts after 1, 2, 4 s..., history after 5 s
        await until(lambda: ("MEMSWAP", "WARNING") in saved_events(tmpfs), within=15)
        await until(lambda: logged(caplog, "alerts: saved again"))
        await until(lambda: any(ts > back for ts in on_disk(tmpfs, "mem", "percent")), within=15)
        stamps = on_disk(tmpfs, "mem", "percent")
        meanwhile = [ts for ts in stamps if away < ts < back]
        assert len(meanwhile) >= (back - away) / REFRESH - 2, (away, back, stamps)
        served = [p[0] for p in await s.api("/mem/percent/history")]
        # each point once on disk (the rewrite replaced what was there), all in memory
        assert len(set(stamps)) == len(stamps) <= len(served), (stamps, served)
