"""SIGTERM to the real ``statbus`` command while HTTP clients hammer it, with the MQTT
broker up or killed (issue #9): it exits within the shutdown deadline with status 0,
says ``offline`` (retained) when the broker is there to hear it, and what it saved is
what it served (a restart serves the same history and events)."""

from __future__ import annotations

import http.client
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from api.main import SHUTDOWN_DEADLINE
from tests.conftest import LiveStatbus, start_statbus
from tests.polling import sync_until
from tests.sinks.conftest import Broker, mosquitto_binary

DEVICE = "shutdown"
AVAILABILITY = f"glances/{DEVICE}/availability"
#: on a busy 2-core machine: the process's own start-up of the exit path, and Python's
MARGIN = 2.0


def config(broker_port: int) -> str:
    return (
        "[api]\nport = 0\n[global]\nrefresh = 0.5\nretry_initial = 0.2\nretry_max = 1.0\n"
        # so low that a MEM event opens at once and stays ongoing
        "[mem]\ncareful = 1.0\nwarning = 2.0\ncritical = 3.0\n"
        f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker_port}\n'
        f'devicename = "{DEVICE}"\nplugins = ["cpu", "mem"]\n'
    )


@contextmanager
def hammering(base: str, clients: int = 8) -> Iterator[list[int]]:
    """``clients`` threads GET the API as fast as they can (keep-alive, reconnecting when
    a connection ends) until the block ends; the statuses they got are yielded."""
    url = urlsplit(base)
    assert url.hostname is not None and url.port is not None
    stop = threading.Event()
    statuses: list[int] = []
    paths = ["/all", "/cpu", "/alert", "/mem/percent/history", "/pipeline"]

    def client() -> None:
        conn: http.client.HTTPConnection | None = None
        while not stop.is_set():
            for path in paths:
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
                    conn.request("GET", url.path + path)
                    response = conn.getresponse()
                    response.read()
                    statuses.append(response.status)
                except (OSError, http.client.HTTPException):
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(0.01)  # refused: it is going away
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    try:
        yield statuses
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)


def retained(port: int, topic: str, within: float = 10.0) -> bytes | None:
    """The retained message on ``topic`` now (``None`` if there is none)."""
    got: list[bytes] = []
    subscribed, arrived = threading.Event(), threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *a: c.subscribe(topic, 1)
    client.on_subscribe = lambda *a: subscribed.set()

    def on_message(c: Any, u: Any, msg: Any) -> None:
        if msg.retain:
            got.append(msg.payload)
            arrived.set()

    client.on_message = on_message
    client.connect("127.0.0.1", port, 60)
    client.loop_start()
    try:
        assert subscribed.wait(within), "no SUBACK"
        arrived.wait(1.0)  # a retained message comes right after the SUBACK
        return got[-1] if got else None
    finally:
        client.disconnect()
        client.loop_stop()


def wait_retained(port: int, topic: str, expected: bytes) -> None:
    """Until the retained message on ``topic`` is ``expected`` (a restarted statbus
    publishes it once it has reconnected)."""
    sync_until(lambda: retained(port, topic) == expected, within=60)


def get(base: str, path: str) -> Any:
    response = httpx.get(base + path, timeout=5)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def history(base: str, at_least: int) -> list[list[Any]]:
    def enough() -> list[list[Any]] | None:
        points: list[list[Any]] = get(base, "/mem/percent/history")
        return points if len(points) >= at_least else None

    found: list[list[Any]] = sync_until(enough, within=60)
    return found


def mem_events(base: str) -> list[dict[str, Any]]:
    return [e for e in get(base, "/alert") if e["type"] == "MEM"]


def sigterm(live: LiveStatbus) -> float:
    """SIGTERM; the seconds until the process is gone (it must exit with 0)."""
    started = time.monotonic()
    code = live.stop(signal.SIGTERM, timeout=SHUTDOWN_DEADLINE + 10)
    took = time.monotonic() - started
    assert code == 0, "".join(live.stderr_lines)
    return took


@pytest.mark.slow
@pytest.mark.parametrize("broker_up", [True, False], ids=["broker-up", "broker-killed"])
def test_sigterm_under_load_exits_in_time_and_saves_what_it_served(
    tmp_path: Path, broker_up: bool
) -> None:
    broker = Broker(mosquitto_binary(), tmp_path)
    broker.start()
    try:
        first = start_statbus(tmp_path, config(broker.port))
        served = history(first.base, 4)
        wait_retained(broker.port, AVAILABILITY, b"online")
        sync_until(lambda: mem_events(first.base))  # it opens at the first mem sample
        if not broker_up:
            broker.stop(signal.SIGKILL)
        with hammering(first.base) as statuses:
            time.sleep(1.0)
            # what it serves last before the signal, under load
            served = get(first.base, "/mem/percent/history")
            events = mem_events(first.base)
            took = sigterm(first)
        assert statuses and set(statuses) == {200}, set(statuses)
        assert took < SHUTDOWN_DEADLINE + MARGIN, took
        stderr = "".join(first.stderr_lines)
        assert "exiting anyway" not in stderr, stderr  # not the backstop: a clean exit
        if broker_up:
            wait_retained(broker.port, AVAILABILITY, b"offline")
        else:
            broker.start()

        # the events list as saved at exit: the event served, with every sample counted
        saved = orjson.loads((tmp_path / "state" / "statbus" / "events.json").read_bytes())
        (event,) = [e for e in saved["events"] if e["type"] == "MEM"]
        assert event["begin"] == events[0]["begin"] and event["count"] >= events[0]["count"]

        second = start_statbus(tmp_path, config(broker.port))
        try:
            again = get(second.base, "/mem/percent/history")
            # every point served before the signal is there, in order, before the new ones
            assert again[: len(served)] == served
            reloaded = mem_events(second.base)
            assert [e["begin"] for e in reloaded] == [events[0]["begin"]]
            if not broker_up:  # and MQTT works again
                wait_retained(broker.port, AVAILABILITY, b"online")
        finally:
            assert second.stop() == 0
    finally:
        broker.stop()
