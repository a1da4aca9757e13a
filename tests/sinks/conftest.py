"""A real Mosquitto broker on a free loopback port, and a paho subscriber, for the
MQTT tests.  Each test gets its own broker, which it may stop and start again."""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
import trio
from paho.mqtt.enums import CallbackAPIVersion

from tests.polling import WITHIN, until

INSTALL_HINT = (
    "the MQTT tests need the mosquitto broker on PATH; install it with "
    "`apt-get install -y mosquitto` (Debian/Ubuntu) or your system's package manager"
)


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    """One mosquitto on 127.0.0.1:``port``; ``persistent`` keeps sessions and retained
    messages across a stop and start, as a real broker restart does."""

    binary: str
    folder: Path
    port: int = field(default_factory=free_port)
    persistent: bool = False
    #: more lines, right after the listener's (so that per-listener options such as
    #: ``certfile`` apply to it); an ``allow_anonymous`` line replaces the default one
    extra_conf: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        conf = self.folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", *self.extra_conf]
        if not any(line.startswith("allow_anonymous") for line in self.extra_conf):
            lines += ["allow_anonymous true"]
        if self.persistent:
            # as root mosquitto drops to the "mosquitto" user, which cannot write here
            lines += [f"user {getpass.getuser()}"]
            lines += ["persistence true", f"persistence_location {self.folder}/"]
            # saved at every change, so that even a SIGKILL keeps the sessions
            lines += ["autosave_interval 1", "autosave_on_changes true"]
        else:
            lines += ["persistence false"]
        conf.write_text("\n".join(lines) + "\n")
        with open(self.folder / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    "mosquitto exited: " + (self.folder / "mosquitto.log").read_text()
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError(f"mosquitto did not listen on {self.port}")

    def saved_state(self) -> bytes:
        """What a persistent broker last wrote of its state (b"" before the first)."""
        try:
            return (self.folder / "mosquitto.db").read_bytes()
        except FileNotFoundError:
            return b""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        self.proc.send_signal(signal.SIGCONT)  # a stopped broker handles SIGTERM too
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(mosquitto_binary(), tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(mosquitto_binary(), tmp_path, persistent=True)
    b.start()
    yield b
    b.stop()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """A paho client on its own thread (``loop_start``) that records what it receives.

    With ``client_id`` it keeps a persistent session (clean_session=False, QoS 1), so
    messages published while it is away are delivered when it comes back.
    """

    def __init__(self, port: int, topics: str | list[str], client_id: str = "") -> None:
        self.port = port
        self.topics = [topics] if isinstance(topics, str) else topics
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not client_id,
        )
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: paho.Client, *args: object) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, msg.payload, bool(msg.retain)))

    async def start(self) -> Subscriber:
        await trio.to_thread.run_sync(self.client.connect, "127.0.0.1", self.port, 60)
        self.client.loop_start()
        assert await trio.to_thread.run_sync(self.subscribed.wait, 5), "no SUBACK"
        return self

    async def sync_broker_state(self, broker: Broker) -> None:
        """Make a persistent broker save its state now (a subscription is a change it
        counts), so that a SIGKILL does not bring back messages already delivered.

        Done once the broker's file holds the new subscription: a save that holds it
        was made after the broker handled it, so after the acknowledgements this
        client sent before it."""
        topic = f"statbus-test/sync/{time.time_ns()}"
        self.client.subscribe(topic, 1)
        await until(lambda: topic.encode() in broker.saved_state())

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def received(self, topic: str | None = None) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if topic is None or m.topic == topic]

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.received(topic)]

    async def wait_for(
        self, check: Callable[[list[Received]], bool], within: float = WITHIN
    ) -> list[Received]:
        """Until what was received passes ``check``; all of it (the messages arrive on
        paho's thread: polled)."""

        def passed() -> list[Received] | None:
            got = self.received()
            return got if check(got) else None

        found: list[Received] = await until(passed, within=within)
        return found
