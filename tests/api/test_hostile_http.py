"""Hostile requests over raw sockets, against a real statbus process.

Raw sockets, because an HTTP client library normalises what is tested here (``..``,
``%2F``, NUL, bytes that are not UTF-8, absurd ``Content-Length``).  Every request gets
a 4xx with a JSON ``{"detail": ...}`` from the app, or, for what is not HTTP at all, an
empty 4xx from hypercorn (h11) and a closed connection; never a 5xx or a traceback, and
the server answers the next request.  Both request paths are covered: ``/api/4/cpu``
is the fast path's, the others Quart's.

And requests never choose what statbus executes or reads: every route accepts only
GET/HEAD/OPTIONS but the four documented commands, none of which takes a command, host
or path; a statbus with an AMP whose command writes a marker file, a port target and a
folder keeps running and reading exactly those, whatever requests try.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import create_app, server_limits
from api.fastpath import fast_routes
from pipeline.config import load
from tests.api.in_process import Answer, every_handle, parse_head
from tests.conftest import LiveStatbus, start_statbus
from tests.polling import sync_until

FAST = "/api/4/cpu"  # answered by the fast path
#: the only routes that are not reads: commands on statbus's own state, with no input
#: but a pid (``docs/api.md``)
COMMANDS = {
    "glances.processes_extended_disable",
    "glances.processes_extended_enable",
    "alerts.clear_warning",
    "alerts.clear_all",
}
READS = {"GET", "HEAD", "OPTIONS"}


def _address(live: LiveStatbus) -> tuple[str, int]:
    hostport = live.base.split("/")[2]
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def exchange(live: LiveStatbus, raw: bytes, *, head: bool = False) -> Answer | None:
    """Send ``raw`` on a new connection and read one answer; ``None`` if the server
    closed or reset the connection without one."""
    with socket.create_connection(_address(live), timeout=10) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            return None
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                data += chunk
            answer = parse_head(data)
            length = 0 if head else int(answer.headers.get("content-length", "0"))
            while len(answer.body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer.body += chunk
        except ConnectionResetError:
            return None
    return answer


def request(method: str, target: bytes, *extra: bytes, body: bytes = b"") -> bytes:
    head = b"%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" % (method.encode(), target)
    return head + b"".join(h + b"\r\n" for h in extra) + b"\r\n" + body


def still_answers(live: LiveStatbus) -> None:
    for target in (b"/api/4/status", FAST.encode(), b"/api/4/cpu/total"):
        answer = exchange(live, request("GET", target))
        assert answer is not None and answer.status == 200, target


def no_traceback(live: LiveStatbus) -> None:
    assert not [line for line in live.stderr_lines if "Traceback" in line], "".join(
        live.stderr_lines
    )


LONG = b"a" * 10_000
#: (raw request target, expected status) answered by the app with a JSON detail
PATHS: list[tuple[bytes, int]] = [
    # ``..`` is an ordinary segment; %2F is a "/" once hypercorn decodes the path
    (b"/api/4/../../etc/passwd", 404),
    (b"/api/4/..%2F..%2Fetc%2Fpasswd", 404),
    (b"/api/4/%2E%2E/%2E%2E/etc/passwd", 404),
    (b"/api/4/cpu/..", 404),
    (b"/api/4/cpu/%2e%2e%2f%2e%2e", 404),
    (b"/api/4/..", 400),
    (b"/api/4/config/..%2F..", 400),
    # NUL and bytes that are not UTF-8 (decoded as U+FFFD), in every position
    (b"/api/4/%00", 400),
    (b"/api/4/cpu/%00", 404),
    (b"/api/4/network/%00/lo", 404),
    (b"/api/4/network/interface_name/%00", 404),
    (b"/api/4/%FF", 400),
    (b"/api/4/cpu/%FF%FE", 404),
    (b"/api/4/%C0%AF", 400),
    (b"/api/4/cpu/%FF/history", 404),
    (b"/api/4/cpu/history/%FF", 422),
    (b"/api/4/cpu/top/%00", 422),
    (b"/api/4/processes/%00", 422),
    (b"/api/4/processes/%FF", 422),
    (b"/api/4/config/%00", 400),
    (b"/api/4/config/%FF/%00", 400),
    (b"/api/4/args/%00", 400),
    (b"/api/4/cpu/%00/views", 404),
    (b"/api/4/%00/limits", 400),
    (b"/api/4/fs/%00/value/x", 404),
    # 10 kB segments in every position
    (b"/api/4/" + LONG, 400),
    (b"/api/4/cpu/" + LONG, 404),
    (b"/api/4/network/interface_name/" + LONG, 404),
    (b"/api/4/network/" + LONG + b"/value/x", 404),
    (b"/api/4/processes/" + LONG, 422),
    (b"/api/4/cpu/history/" + LONG, 422),
    (b"/api/4/config/" + LONG, 400),
    (b"/api/4/" + LONG + b"/" + LONG, 400),
    # the stream's filters (refused before a stream opens)
    (b"/api/4/stream?plugins=%00", 400),
    (b"/api/4/stream?plugins=%FF," + LONG, 400),
    (b"/api/4/stream?topics=..%2F", 400),
    (b"/api/4/stream?plugins=", 400),
    # paths that are no route at all
    (b"/api/4/cpu/a/b/c/d/e", 404),
    (b"/" + LONG, 404),
    (b"/api/%00/cpu", 404),
]


@pytest.mark.parametrize(("target", "status"), PATHS, ids=lambda v: repr(v)[:40])
def test_hostile_path_values_get_a_json_4xx(live: LiveStatbus, target: bytes, status: int) -> None:
    answer = exchange(live, request("GET", target))
    assert answer is not None
    assert answer.status == status, (answer, target)
    detail = answer.detail()
    assert detail


def test_hostile_values_where_a_value_is_a_lookup_answer_an_empty_match(
    live: LiveStatbus,
) -> None:
    """``/<plugin>/<item>/value/<value>`` looks ``value`` up: whatever it is, the answer
    is the entries that have it (none), never a file or an error."""
    for value in (b"..%2F..%2Fetc%2Fpasswd", b"%00", b"%FF", LONG, b"../../etc/passwd"):
        answer = exchange(live, request("GET", b"/api/4/network/interface_name/value/" + value))
        assert answer is not None and answer.status == 200, (answer, value)
        assert list(json.loads(answer.body).values()) == [[]]
    still_answers(live)


@pytest.mark.parametrize("path", [FAST.encode(), b"/api/4/cpu/total"])
def test_hostile_query_strings_are_ignored_or_refused(live: LiveStatbus, path: bytes) -> None:
    for query in (b"?%FF=%00", b"?..%2F..=%2F", b"?" + LONG + b"=" + LONG, b"?a&&&==%"):
        answer = exchange(live, request("GET", path + query))
        assert answer is not None and answer.status == 200, (answer, query)
        assert isinstance(json.loads(answer.body), dict)
    still_answers(live)


#: what h11 refuses before the app: an empty 400, and the connection closed
NOT_HTTP = [
    b"GET /api/4/\xff HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /api/4/cpu\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /api/4/\x00 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /api/4/cpu HTTP/1.1\r\nHost: t\r\nX-Bad: a\x00b\r\n\r\n",
    b"GET /api/4/cpu HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    b"GET /api/4/cpu HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
    b"GET /api/4/cpu HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"POST /api/4/events/clear/all HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\xff\xfe\r\n\r\n",
]


@pytest.mark.parametrize("raw", NOT_HTTP, ids=lambda v: repr(v)[:40])
def test_what_is_not_http_is_refused_by_hypercorn(live: LiveStatbus, raw: bytes) -> None:
    answer = exchange(live, raw)
    if answer is not None:  # or closed/reset without one
        assert 400 <= answer.status < 500 and answer.body == b"", answer
    still_answers(live)


@pytest.mark.parametrize("path", [FAST.encode(), b"/api/4/cpu/limits"])
def test_huge_and_many_headers(live: LiveStatbus, path: bytes) -> None:
    huge = b"X-Big: " + b"a" * 1_000_000
    answer = exchange(live, request("GET", path, huge))
    assert answer is None or (answer.status == 431 and answer.body == b""), answer
    many = [b"X-%d: v" % i for i in range(10_000)]  # ~110 KiB of headers
    answer = exchange(live, request("GET", path, *many))
    assert answer is None or (answer.status == 431 and answer.body == b""), answer
    within = [b"X-%d: v" % i for i in range(800)]  # ~8 KiB: served
    answer = exchange(live, request("GET", path, *within))
    assert answer is not None and answer.status == 200
    still_answers(live)


def test_bodies_where_none_is_expected(live: LiveStatbus) -> None:
    evil = json.dumps({"command": ["sh", "-c", "touch /tmp/statbus-evil"]}).encode()
    length = b"Content-Length: %d" % len(evil)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in (FAST.encode(), b"/api/4/cpu/total", b"/api/4/all", b"/api/4/config"):
            answer = exchange(live, request(method, path, length, body=evil))
            assert answer is not None and answer.status == 405, (method, path, answer)
            assert answer.detail() == "Method Not Allowed"
            assert "GET" in answer.headers["allow"]
    # a body on a GET is ignored (it means nothing in HTTP)
    answer = exchange(live, request("GET", FAST.encode(), length, body=evil))
    assert answer is not None and answer.status == 200
    # a body larger than statbus accepts, whatever the method: 413, nothing read
    big = b"x" * (server_limits.MAX_BODY_BYTES + 1)
    for method, path in (("POST", b"/api/4/events/clear/all"), ("GET", FAST.encode())):
        answer = exchange(live, request(method, path, b"Content-Length: %d" % len(big), body=big))
        assert answer is not None and answer.status == 413, answer
        assert "Request body too large" in answer.detail()
    # an absurd Content-Length: refused at once, not waited for
    for value in (b"99999999999999999999", b"%d" % 2**63):
        for method, path in (("POST", b"/api/4/events/clear/all"), ("GET", FAST.encode())):
            start = time.monotonic()
            answer = exchange(live, request(method, path, b"Content-Length: " + value))
            assert answer is not None and answer.status == 413, answer
            assert time.monotonic() - start < 5  # answered without the body
    still_answers(live)
    no_traceback(live)


@pytest.mark.parametrize(
    "path", [FAST.encode(), b"/api/4/cpu/total", b"/api/4/nosuch/x", b"/api/4/a/b/c/d/e"]
)
def test_head_and_options(live: LiveStatbus, path: bytes) -> None:
    """HEAD: the GET's status and headers, no body; OPTIONS: 204 with ``Allow`` for a
    path a route matches (whether or not the plugin exists), else 404 JSON."""
    get = exchange(live, request("GET", path))
    head = exchange(live, request("HEAD", path), head=True)
    assert get is not None and head is not None
    assert head.status == get.status
    assert head.body == b""
    assert head.headers["content-type"] == "application/json"
    options = exchange(live, request("OPTIONS", path))
    assert options is not None
    if path != b"/api/4/a/b/c/d/e":
        assert options.status == 204 and options.body == b""
        assert set(options.headers["allow"].split(", ")) == READS
    else:
        assert options.status == 404 and options.detail() == "Not Found"


WEBSOCKET = (
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    b"Sec-WebSocket-Version: 13",
)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (request("GET", FAST.encode(), *WEBSOCKET), 400),  # statbus serves no WebSocket
        (request("GET", b"/api/4/stream", *WEBSOCKET), 400),
        (request("GET", b"/nosuch", *WEBSOCKET), 404),
        (request("CONNECT", b"example.com:443"), 404),
        (request("TRACE", FAST.encode()), 405),
        (request("GET", b"*"), 404),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_odd_methods_and_upgrades_get_a_json_4xx(
    live: LiveStatbus, raw: bytes, status: int
) -> None:
    answer = exchange(live, raw)
    assert answer is not None and answer.status == status, answer
    assert answer.detail()
    still_answers(live)


# -- requests never choose what is executed or read ---------------------------------


def test_every_route_is_a_read_but_the_commands_on_statbus_own_state() -> None:
    handles = every_handle(load(overrides={"api.port": 0}))
    app = create_app(handles)
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 30
    for rule in rules:
        methods = set(rule.methods or ())
        if rule.endpoint in COMMANDS:
            assert methods == {"POST", "OPTIONS"}, rule
            # their only input is a pid: nothing names a command, a host or a path
            assert set(rule.arguments) <= {"pid"}, rule
        else:
            assert methods <= READS, (rule, methods)
    # the fast path answers GET and HEAD only, of its cached routes
    assert fast_routes(handles)
    assert app.asgi_app.routes.keys() == fast_routes(handles).keys()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveStatbus, Path]]:
    tmp = tmp_path_factory.mktemp("configured")
    marker, watched = tmp / "marker", tmp / "watched"
    watched.mkdir()
    (watched / "f").write_bytes(b"x" * 1000)
    target = socket.socket()
    target.bind(("127.0.0.1", 0))
    target.listen()
    port = target.getsockname()[1]
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('ran\\n')"]
    toml = f"""
[api]
port = 0
[global]
refresh = 1.0
[amps]
[[amps.amp]]
name = "marker"
regex = "api\\\\.cli"
refresh = 1.0
command = {json.dumps(command)}
[ports]
port_default_gateway = false
refresh = 1.0
[[ports.port]]
host = "127.0.0.1"
port = {port}
description = "target"
[folders]
[[folders.folder]]
path = {json.dumps(str(watched))}
refresh = 1.0
"""
    server = start_statbus(tmp, toml)
    try:
        yield server, tmp
    finally:
        target.close()
        assert server.stop() == 0


def _get(live: LiveStatbus, path: str) -> Any:
    answer = exchange(live, request("GET", f"/api/4{path}".encode()))
    assert answer is not None and answer.status == 200, (path, answer)
    return json.loads(answer.body)


def _wait_for(live: LiveStatbus, path: str, ready: Any) -> Any:
    def got() -> Any:
        data = _get(live, path)
        return [data] if ready(data) else None  # in a list: an empty answer may be ready

    return sync_until(got)[0]


def test_requests_cannot_choose_commands_hosts_or_paths(
    configured: tuple[LiveStatbus, Path],
) -> None:
    live, tmp = configured
    marker, evil = tmp / "marker", tmp / "evil"
    amps = _wait_for(live, "/amps", lambda d: d and d[0]["result"] is not None)
    ports = _wait_for(live, "/ports", lambda d: d and d[0]["status"] is not None)
    folders = _wait_for(live, "/folders", lambda d: d and d[0]["size"] is not None)
    before = (amps[0]["name"], [p["host"] for p in ports], [f["path"] for f in folders])
    assert marker.read_text().startswith("ran\n")

    evil_command = ["sh", "-c", f"touch {evil}"]
    bodies = [
        json.dumps({"command": evil_command, "regex": ".*", "name": "marker"}),
        json.dumps({"host": "10.0.0.1", "port": 0, "path": "/", "folder": "/"}),
        "command=touch+" + str(evil),
    ]
    query = (f"?command=touch%20{evil}&regex=.*&host=10.0.0.1&port=0&path=%2F&folder=%2F").encode()
    for plugin in ("amps", "ports", "folders"):
        for sub in (b"", b"/" + plugin.encode(), b"/command", b"/result", b"/limits"):
            path = b"/api/4/" + plugin.encode() + sub
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                for body in bodies:
                    data = body.encode()
                    answer = exchange(
                        live,
                        request(
                            method,
                            path + query,
                            b"Content-Type: application/json",
                            b"Content-Length: %d" % len(data),
                            body=data,
                        ),
                    )
                    assert answer is not None and answer.status in (404, 405), answer
            answer = exchange(live, request("GET", path + query))
            assert answer is not None and answer.status in (200, 404), answer
    for path in (b"/api/4/config/amps", b"/api/4/config/ports", b"/api/4/config/folders"):
        answer = exchange(live, request("POST", path, b"Content-Length: 2", body=b"{}"))
        assert answer is not None and answer.status == 405
    # the commands that exist take no such input
    for path in (b"/api/4/processes/extended/1", b"/api/4/events/clear/all"):
        data = bodies[0].encode()
        answer = exchange(live, request("POST", path, b"Content-Length: %d" % len(data), body=data))
        assert answer is not None and answer.status in (200, 404), answer

    runs = marker.read_text().count("ran\n")
    # two more refreshes of the AMP: its configured command still runs, and only it
    _wait_for(live, "/amps", lambda d: marker.read_text().count("ran\n") >= runs + 2)
    amps = _get(live, "/amps")
    ports = _get(live, "/ports")
    folders = _get(live, "/folders")
    after = (amps[0]["name"], [p["host"] for p in ports], [f["path"] for f in folders])
    assert after == before == ("marker", ["127.0.0.1"], [str(tmp / "watched")])
    assert set(marker.read_text().splitlines()) == {"ran"}
    assert not evil.exists()
    assert _get(live, "/config/amps") == _get(live, "/config/amps?command=x")
    no_traceback(live)
