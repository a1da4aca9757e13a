"""hypercorn's connection limits for the API server (timeouts, header and body sizes).

Kept apart from the composition root so the limits and their tests live with the API.
``docs/api.md`` ("Limits") lists them for users; ``tests/api/test_server_limits.py``
checks what each one does to a hostile client.

What hypercorn 0.17/0.18 offers, and how statbus uses it:

* one timer, ``keep_alive_timeout``, runs whenever a connection has no request in
  progress: from the moment it is accepted until a request's head (request line and
  headers) is complete, and again after each response.  So it is both the keep-alive
  time and the **deadline for a request head**: a client that trickles a request line or
  headers a byte at a time is closed when it runs out, however busy it keeps the socket.
* ``h11_max_incomplete_size`` bounds the bytes held for an unfinished request head (and
  so the request line and all headers together): beyond it hypercorn answers ``431``
  with an empty body and closes the connection (h11 refuses a request line with bytes
  that are not printable ASCII the same way, with ``400``).
* ``read_timeout`` (no bytes from the client for that long: close) stays off: a client of
  ``/api/4/stream`` sends nothing while it reads the stream, and would be cut off.
* hypercorn writes a response to the socket in a shielded cancel scope with no timeout,
  so a client that stops reading (an ``/api/4/stream`` client, or one that asked for
  ``/all`` and never reads it) would hold its connection and task for ever.  No timeout
  from the app reaches that write, so the kernel bounds it: the listening sockets get
  ``TCP_USER_TIMEOUT`` (:data:`WRITE_TIMEOUT`, inherited by every accepted connection),
  and a response that makes no progress for that long (the client's window stays shut,
  or its host vanished) fails the write; hypercorn then closes the connection.  Linux
  only; elsewhere the stream cap (``api/stream.py``) is the defence.
* hypercorn has no limit on the number of open connections: the process's open-file
  limit is the one (``LimitNOFILE`` in a systemd unit).  An idle connection costs a
  socket and one small task, and the head deadline above returns it.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.config import Sockets

#: seconds a connection may go without a request in progress: the keep-alive time
#: between requests, and the deadline for a request's head after connecting.  20 s keeps
#: a client polling every 15 s (Prometheus' usual scrape interval) on one connection,
#: while a slowloris client holds a socket for at most 20 s.
KEEP_ALIVE_TIMEOUT = 20
#: bytes of an unfinished request head (request line + headers): hypercorn's default.
#: statbus sets no cookies; its longest legitimate head (a long ``value/<v>`` path and
#: Basic credentials) is well under 4 KiB, and a 10 kB path segment still fits.
MAX_HEAD_BYTES = 16 * 1024
#: requests served on one keep-alive connection before hypercorn closes it (its default)
KEEP_ALIVE_MAX_REQUESTS = 1000
#: HTTP/2 (h2c, or ALPN under TLS): the header block size, as for HTTP/1.1
H2_MAX_HEADER_LIST_SIZE = MAX_HEAD_BYTES
#: HTTP/2: concurrent requests on one connection (hypercorn's default is 100); each is a
#: task, and statbus's clients poll a route or two at a time
H2_MAX_CONCURRENT_STREAMS = 32
#: HTTP/2: the largest frame a client may send, the protocol's minimum (and default)
H2_MAX_INBOUND_FRAME_SIZE = 16 * 1024
#: request-body chunks queued for the app per request (hypercorn's default); statbus
#: reads no request body, and Quart refuses one over ``MAX_BODY_BYTES``
MAX_APP_QUEUE_SIZE = 10
#: connections the kernel queues before statbus accepts them (hypercorn's default)
BACKLOG = 100
#: seconds for a TLS handshake to finish (hypercorn's default, 60 s, would let a client
#: that connects and says nothing hold a socket three times longer than a request head)
SSL_HANDSHAKE_TIMEOUT = 10
#: seconds a response may go without the client taking any of it before the kernel
#: drops the connection (``TCP_USER_TIMEOUT``): far longer than any reader that is
#: merely slow or busy, far shorter than for ever
WRITE_TIMEOUT = 30
#: statbus serves no WebSocket; a message to a WebSocket route could never be larger
WEBSOCKET_MAX_MESSAGE_SIZE = 64 * 1024

#: a request body the Quart app accepts (its ``MAX_CONTENT_LENGTH``): no statbus route
#: reads one, so a larger ``Content-Length`` or body is refused with 413, and at most this
#: much of a body is ever buffered
MAX_BODY_BYTES = 64 * 1024
#: seconds the Quart app waits for a request body it reads (its ``BODY_TIMEOUT``)
BODY_TIMEOUT = 10


def apply_limits(hc: HypercornConfig) -> None:
    """Set the limits every statbus API server runs with on ``hc``."""
    hc.keep_alive_timeout = KEEP_ALIVE_TIMEOUT
    hc.keep_alive_max_requests = KEEP_ALIVE_MAX_REQUESTS
    hc.read_timeout = None  # never: a stream's client sends nothing while it reads
    hc.h11_max_incomplete_size = MAX_HEAD_BYTES
    hc.h2_max_header_list_size = H2_MAX_HEADER_LIST_SIZE
    hc.h2_max_concurrent_streams = H2_MAX_CONCURRENT_STREAMS
    hc.h2_max_inbound_frame_size = H2_MAX_INBOUND_FRAME_SIZE
    hc.max_app_queue_size = MAX_APP_QUEUE_SIZE
    hc.backlog = BACKLOG
    hc.ssl_handshake_timeout = SSL_HANDSHAKE_TIMEOUT
    hc.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_SIZE
    create_sockets = hc.create_sockets

    def create_sockets_with_write_timeout() -> Sockets:
        sockets = create_sockets()
        for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
            set_write_timeout(sock, WRITE_TIMEOUT)
        return sockets

    # hypercorn makes the listening sockets when it starts serving, from its config
    hc.create_sockets = create_sockets_with_write_timeout  # type: ignore[method-assign]


def set_write_timeout(sock: socket.socket, seconds: float) -> bool:
    """``TCP_USER_TIMEOUT`` on a TCP socket (a listening one passes it to the connections
    it accepts); ``False`` where there is no such option (not Linux, not TCP)."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    sock.setsockopt(socket.IPPROTO_TCP, option, int(seconds * 1000))
    return True
