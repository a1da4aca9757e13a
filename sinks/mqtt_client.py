"""One MQTT connection: a paho client driven from the trio thread (``docs/mqtt.md``).

paho is used through its *external loop* API: trio waits on the client's socket with
``trio.lowlevel.wait_readable`` / ``wait_writable`` and then calls ``loop_read`` /
``loop_write`` (which never block: paho puts the socket in non-blocking mode), and calls
``loop_misc`` every quarter keep-alive (1 to 5 s) for keep-alive pings.  paho's own
thread is never started, so every paho callback runs synchronously on the trio thread
inside one of those calls.

The one blocking step paho has is the TCP connect inside ``reconnect()`` (name lookup
and ``socket.create_connection``).  It runs in a worker thread, under a trio timeout and
``abandon_on_cancel=True``, with a private limiter of two threads so that a hanging name
lookup cannot pile threads up.  Nothing else touches the client while that thread runs,
and an abandoned attempt's client is simply dropped.  With TLS the handshake happens
there too (paho does it inside ``reconnect()``), as does the reading of the certificate
files, so a renewed certificate is picked up at the next connection.  A fresh client is
made for every connection, so no paho state (its unbounded queue of unacknowledged
messages) outlives a connection: what must survive a disconnect is kept by the sink, in
bounded buffers.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
import trio
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

log = logging.getLogger(__name__)
_paho_log = logging.getLogger(f"{__name__}.paho")

#: seconds allowed for the TCP connect and, separately, for the broker's CONNACK
CONNECT_TIMEOUT = 10.0
#: how often ``loop_misc`` runs (keep-alive pings, a broker that stopped answering): a
#: quarter of the keep-alive, at most this often and at least every MISC_INTERVAL_MAX s
#: (a ping then goes out within 1.25 keep-alives of silence, before the broker's 1.5)
MISC_INTERVAL = 1.0
MISC_INTERVAL_MAX = 5.0


def misc_interval(keepalive: float) -> float:
    return min(MISC_INTERVAL_MAX, max(MISC_INTERVAL, keepalive / 4))


#: messages handed to paho and not yet acknowledged; more wait in the sink's buffers
WINDOW = 64


class ConnectError(Exception):
    """A connection attempt failed (unreachable, refused, timed out).  ``refused``: the
    broker answered and said no (bad user name or password, client id refused)."""

    def __init__(self, why: str, *, refused: bool = False) -> None:
        super().__init__(why)
        self.refused = refused


@dataclass(frozen=True, slots=True)
class Settings:
    host: str
    port: int
    client_id: str
    keepalive: int
    username: str
    password: str
    #: the will: ``(topic, payload)``, published retained at QoS 1 by the broker when
    #: the connection ends without a DISCONNECT
    will: tuple[str, str]
    #: TLS (``[mqtt]`` tls, ca_file, certfile, keyfile, tls_insecure)
    tls: bool = False
    ca_file: str = ""
    certfile: str = ""
    keyfile: str = ""
    tls_insecure: bool = False


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A client context: the broker's chain checked against ``ca_file`` (else the
    system's CAs) and, unless ``tls_insecure``, its host name; TLS 1.2 at least.
    Reads files: call it off the trio thread."""
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    context.sslsocket_class = _SSLSocket
    if settings.certfile:
        # an encrypted key fails here instead of prompting on the terminal
        context.load_cert_chain(settings.certfile, settings.keyfile or None, password=lambda: b"")
    if settings.tls_insecure:
        context.check_hostname = False
    return context


class Connection:
    """A connected paho client.  Use from the trio thread only.

    ``on_ack(mid)`` is called when a message is acknowledged (QoS 1/2) or written
    (QoS 0).  ``run_io`` must run while the connection is used; it returns (after
    cancelling the scope it was given) when the connection is lost.
    """

    def __init__(
        self, client: paho.Client, on_ack: Callable[[int], None], keepalive: float = 0.0
    ) -> None:
        self._client = client
        self._misc_interval = misc_interval(keepalive)
        self._on_ack = on_ack
        self._sock: Any = client.socket()
        self._write_wanted = trio.Event()
        self._connack = trio.Event()
        self.closed = trio.Event()
        self.refused: str | None = None
        self.lost: str | None = None
        #: called with ``(topic, payload, retained)`` for each message of a
        #: :meth:`subscribe`d topic; ``retained``: the broker's stored copy, sent because
        #: of the subscription (not a message published now)
        self.on_message: Callable[[str, bytes, bool], None] | None = None
        client.on_connect = self._handle_connect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        client.on_socket_close = self._handle_socket_close
        # With a register-write callback set, paho never writes from inside publish();
        # every write happens in ``run_io`` once the socket is writable.
        client.on_socket_register_write = self._handle_register_write
        client.on_socket_unregister_write = None

    @classmethod
    async def open(
        cls, settings: Settings, on_ack: Callable[[int], None], limiter: trio.CapacityLimiter
    ) -> Connection:
        """TCP-connect and send CONNECT; raise :class:`ConnectError` on failure."""
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=True,
            protocol=paho.MQTTv311,
        )
        # paho's messages ("failed to receive on socket", at ERROR) at debug: the sink
        # logs each state change once, not once per attempt
        client.on_log = lambda c, u, level, text: _paho_log.debug("%s", text)
        client.will_set(settings.will[0], settings.will[1], qos=1, retain=True)
        if settings.username:
            client.username_pw_set(settings.username, settings.password or None)
        client.connect_timeout = CONNECT_TIMEOUT
        client.max_inflight_messages_set(WINDOW)
        client.connect_async(settings.host, settings.port, settings.keepalive)
        try:
            with trio.fail_after(CONNECT_TIMEOUT + 1):
                rc = await trio.to_thread.run_sync(
                    _reconnect, client, settings, abandon_on_cancel=True, limiter=limiter
                )
        except trio.TooSlowError:
            raise ConnectError("timed out connecting") from None
        except (OSError, ValueError) as exc:  # refused, unreachable, name lookup, TLS, ...
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or client.socket() is None:
            client.on_socket_close = None
            _close_quietly(client)
            raise ConnectError(paho.error_string(rc))
        return cls(client, on_ack, settings.keepalive)

    # -- paho callbacks (on the trio thread, inside loop_read/loop_write/loop_misc) --

    def _handle_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            self.refused = str(reason)
        self._connack.set()

    def _handle_publish(
        self, client: Any, userdata: Any, mid: int, reason: Any, props: Any
    ) -> None:
        self._on_ack(mid)

    def _handle_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        if self.on_message is not None:
            self.on_message(message.topic, bytes(message.payload), bool(message.retain))

    def _handle_socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        # Wake any task waiting on this socket before paho closes it (trio requires it).
        trio.lowlevel.notify_closing(sock)
        self.closed.set()

    def _handle_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        self._write_wanted.set()

    # -- use ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return (
            self._connack.is_set()
            and self.refused is None
            and self.lost is None
            and not self.closed.is_set()
        )

    async def wait_connack(self) -> None:
        """Wait for the broker's answer; raise :class:`ConnectError` if it refuses,
        times out or the connection drops first (``run_io`` must be running)."""
        with trio.move_on_after(CONNECT_TIMEOUT):
            await _first(self._connack.wait, self.closed.wait)
        if self.refused is not None or not self._connack.is_set():
            raise self.connect_error()

    def connect_error(self) -> ConnectError:
        """Why this connection ended before the broker accepted it."""
        if self.refused is not None:
            return ConnectError(f"refused by the broker: {self.refused}", refused=True)
        return ConnectError(self.lost or "no answer to CONNECT")

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int | None:
        """Hand one message to paho; its ``mid``, or ``None`` if the connection is gone."""
        if self.closed.is_set():
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        self._write_wanted.set()
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            return None
        return info.mid

    def subscribe(self, topics: list[str], qos: int = 0) -> bool:
        """Queue a SUBSCRIBE (``run_io`` sends it; messages go to :attr:`on_message`).
        Subscriptions last as long as this connection: subscribe on every connect."""
        if self.closed.is_set() or not topics:
            return False
        rc, _ = self._client.subscribe([(t, qos) for t in topics])
        self._write_wanted.set()
        return rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN)

    def disconnect(self) -> None:
        """Queue a DISCONNECT (the broker then discards the will); ``run_io`` sends it."""
        if not self.closed.is_set():
            self._client.disconnect()
            self._write_wanted.set()

    def abort(self) -> None:
        """Close the socket now (no DISCONNECT: the broker publishes the will)."""
        _close_quietly(self._client)
        self.closed.set()

    async def run_io(self, scope: trio.CancelScope) -> None:
        """Drive paho until the connection is lost; then record why and cancel ``scope``."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reader, nursery.cancel_scope)
                nursery.start_soon(self._writer, nursery.cancel_scope)
                nursery.start_soon(self._misc, nursery.cancel_scope)
        finally:
            if self.lost is not None:
                scope.cancel()

    def _fail(self, scope: trio.CancelScope, why: str) -> None:
        if self.lost is None:
            self.lost = why
        scope.cancel()

    async def _reader(self, scope: trio.CancelScope) -> None:
        while True:
            # paho may have closed the socket in another task's call; waiting on a
            # closed socket is an error, not a wake-up
            if self.closed.is_set():
                return self._fail(scope, "connection closed")
            try:
                await trio.lowlevel.wait_readable(self._sock)
            except trio.ClosedResourceError:
                return self._fail(scope, "connection closed")
            rc = self._client.loop_read()
            # TLS: what paho did not read of a record waits decrypted inside the SSL
            # object, where wait_readable cannot see it: read until none is left
            while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and _pending(self._sock):
                await trio.lowlevel.checkpoint()
                if self.closed.is_set():
                    break
                rc = self._client.loop_read()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self.closed.is_set():
                return self._fail(scope, _why(rc, "connection lost"))
            self._write_wanted.set()  # answers (PUBREL, PINGRESP) may be queued

    async def _writer(self, scope: trio.CancelScope) -> None:
        # Write at once: the socket almost always has room, and asking epoll first would
        # cost a scheduler pass and two epoll_ctl calls per round.  Only what the socket
        # did not take (paho keeps it, want_write stays true) waits for it to be writable.
        while True:
            self._write_wanted = trio.Event()
            if not self._client.want_write():
                await self._write_wanted.wait()
                continue
            if self.closed.is_set():
                return self._fail(scope, "connection closed")
            rc = self._client.loop_write()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self.closed.is_set():
                return self._fail(scope, _why(rc, "disconnected"))
            if self._client.want_write():
                try:
                    await trio.lowlevel.wait_writable(self._sock)
                except trio.ClosedResourceError:
                    return self._fail(scope, "connection closed")

    async def _misc(self, scope: trio.CancelScope) -> None:
        while True:
            await trio.sleep(self._misc_interval)
            rc = self._client.loop_misc()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self.closed.is_set():
                return self._fail(scope, _why(rc, "keep-alive timed out"))
            self._write_wanted.set()


class _SSLSocket(ssl.SSLSocket):
    """Closes itself when its handshake fails: paho then drops it without closing it."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _reconnect(client: paho.Client, settings: Settings) -> MQTTErrorCode:
    """In the worker thread: TLS set-up, then paho's blocking connect (and handshake)."""
    if settings.tls:
        client.tls_set_context(tls_context(settings))
        client.tls_insecure_set(settings.tls_insecure)
    return client.reconnect()


def _pending(sock: Any) -> int:
    """Bytes already decrypted and buffered in an SSL socket (0 for a plain one)."""
    pending = getattr(sock, "pending", None)
    if pending is None or sock.fileno() < 0:
        return 0
    return int(pending())


def _why(rc: MQTTErrorCode, default: str) -> str:
    return default if rc == MQTTErrorCode.MQTT_ERR_SUCCESS else paho.error_string(rc)


def _close_quietly(client: paho.Client) -> None:
    sock = client.socket()
    if sock is None:
        return
    client.on_socket_close = None
    try:
        trio.lowlevel.notify_closing(sock)
    except RuntimeError:  # not on the trio thread (cannot happen: we only call it there)
        pass
    try:
        sock.close()
    except OSError:
        pass


async def _first(*waits: Callable[[], Any]) -> None:
    async with trio.open_nursery() as nursery:

        async def one(wait: Callable[[], Any]) -> None:
            await wait()
            nursery.cancel_scope.cancel()

        for wait in waits:
            nursery.start_soon(one, wait)


def default_hostname() -> str:
    return socket.gethostname()
