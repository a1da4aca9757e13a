"""The fast path answers exactly as Quart does, and only the cached GET routes skip Quart.

Apps over one state: ``create_root_app(...)`` (what hypercorn serves: the fast path, and
the Quart app built on the first request it does not answer), ``create_app(...)`` (the
fast path installed as the Quart app's ``asgi_app``, for the test client) and
``create_app(..., fast_path=False)`` (Quart alone).  Every request of a matrix of routes,
methods and headers (auth, CORS, gzip) must get the same status, the same headers in the
same order and the same body from the fast path and from Quart alone, through the Quart
test client and over real sockets served by hypercorn.  The fast-route table, built
without Quart, must equal the one derived from Quart's URL map.
"""

from __future__ import annotations

import base64
import gzip
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from quart_trio import QuartTrio

from api import ApiHandles, create_app
from api.app import url_map_fast_routes
from api.fastpath import FastPath, FastRoute, fast_routes
from api.root import LazyApp, create_root_app
from pipeline import __version__
from pipeline.bus import Bus
from pipeline.config import load
from pipeline.events import StatEvent
from pipeline.stages.state import StateStage

PROCESSES = [
    {"pid": pid, "key": "pid", "name": f"worker-{pid}", "cpu_percent": pid / 10}
    for pid in range(1, 60)
]
DATA: dict[str, Any] = {
    "cpu": {"total": 12.5, "user": 10.0},
    "network": [{"interface_name": "lo", "key": "interface_name", "bytes_recv": 20}],
    "processlist": PROCESSES,
    "uptime": "1 day, 2:03:04",
}

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    # no back-off: the matrix repeats wrong credentials, and each path must answer 401
    "auth+prefix": {
        "api.username": "admin",
        "api.password": "s3cret",
        "api.url_prefix": "/gl/",
        "api.max_login_failures": 1_000_000,
    },
    "origins+gzip": {"api.cors_origins": ["https://a.example"], "api.gzip_min_size": 10},
}

PATHS = [
    "/status",
    "/pluginslist",
    "/all",
    "/cpu",
    "/processlist",
    "/uptime",
    "/alert",
    "/cpu/",  # trailing slash: Quart's
    "/cpu?x=1",
    "/cpu/total",
    "/nosuch",
    "/config",
    "/cpu/nosuch",  # 404
    "/pipeline",  # not served without its handles: taken for a plugin, 400
]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


HEADER_SETS: list[dict[str, str]] = [
    {},
    {"Origin": "https://a.example"},
    {"Origin": "https://evil.example", "Accept-Encoding": "gzip, deflate"},
    {"Accept-Encoding": "gzip"},
    {"Authorization": _basic("admin", "s3cret"), "Accept-Encoding": "br, gzip"},
    {"Authorization": _basic("admin", "s3cret"), "Origin": "https://a.example"},
    {"Authorization": _basic("admin", "wrong")},
    {"Authorization": "Basic !!!not-base64"},
]

REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    (method, path, headers)
    for path in PATHS
    for method in ("GET", "HEAD", "POST")
    for headers in HEADER_SETS
] + [
    ("OPTIONS", "/cpu", {}),
    ("OPTIONS", "/all", {"Origin": "https://a.example", "Access-Control-Request-Method": "GET"}),
]


class _BrokenCpuState(StateStage):
    """A state whose ``cpu`` JSON cannot be read (a bug): both paths must answer 500."""

    def get_json(self, plugin: str) -> bytes:
        if plugin == "cpu":
            raise RuntimeError("boom")
        return super().get_json(plugin)


def _handles(
    overrides: dict[str, Any], state_class: type[StateStage] = StateStage
) -> tuple[ApiHandles, str]:
    config = load(overrides=overrides)
    state = state_class(Bus(), config.enabled_plugins())
    for plugin, data in DATA.items():
        state.update(StatEvent(plugin, 1.0, 1, data))
    return ApiHandles(config, state, args={"port": 61208}), config.api.url_prefix + "/api/4"


def _apps(
    overrides: dict[str, Any], state_class: type[StateStage] = StateStage
) -> tuple[QuartTrio, QuartTrio, str]:
    """The fast path in front of Quart (as ``asgi_app``), Quart alone, the URL prefix."""
    handles, prefix = _handles(overrides, state_class)
    return create_app(handles), create_app(handles, fast_path=False), prefix


def _served_apps(overrides: dict[str, Any]) -> tuple[FastPath, QuartTrio, str]:
    """The root app (as served), Quart alone, the URL prefix."""
    handles, prefix = _handles(overrides)
    return create_root_app(handles), create_app(handles, fast_path=False), prefix


def _lazy(root: FastPath) -> LazyApp:
    assert isinstance(root.fallback, LazyApp)
    return root.fallback


Answer = tuple[int, list[tuple[str, str]], bytes]


async def _ask(app: QuartTrio, method: str, url: str, headers: dict[str, str]) -> Answer:
    resp = await app.test_client().open(url, method=method, headers=headers)
    return resp.status_code, list(resp.headers.items()), await resp.get_data()


@pytest.mark.parametrize("name", CONFIGS)
async def test_test_client_answers_alike(name: str) -> None:
    fast, slow, prefix = _apps(CONFIGS[name])
    assert isinstance(fast.asgi_app, FastPath) and not isinstance(slow.asgi_app, FastPath)
    seen = set()
    for method, path, headers in REQUESTS:
        got = await _ask(fast, method, prefix + path, headers)
        want = await _ask(slow, method, prefix + path, headers)
        assert got == want, (method, path, headers)
        seen.add(got[0])
    # the matrix reaches what it means to compare
    assert {200, 400, 404, 405} <= seen
    assert (401 in seen) == (name == "auth+prefix")


def _record_fallback(app: QuartTrio) -> list[str]:
    """The paths of the requests the fast path hands to Quart."""
    fast = app.asgi_app
    assert isinstance(fast, FastPath)
    reached: list[str] = []
    fallback = fast.fallback

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        reached.append(f"{scope['method']} {scope['path']}")
        await fallback(scope, receive, send)  # type: ignore[operator]

    fast.fallback = recording
    return reached


async def test_only_the_cached_reads_skip_quart() -> None:
    fast, _, prefix = _apps(CONFIGS["auth+prefix"])
    reached = _record_fallback(fast)
    good = {"Authorization": _basic("admin", "s3cret")}
    for path in ("/status", "/all", "/cpu", "/uptime", "/pluginslist"):
        assert (await _ask(fast, "GET", prefix + path, good))[0] == 200
        assert (await _ask(fast, "HEAD", prefix + path, good))[0] == 200
    assert (await _ask(fast, "GET", prefix + "/status", {}))[0] == 200  # open route
    assert reached == []
    asked = {
        ("GET", "/cpu", ()): 401,  # no credentials
        ("GET", "/all", (("Authorization", _basic("admin", "nope")),)): 401,
        ("GET", "/cpu/", tuple(good.items())): 200,
        ("GET", "/cpu/total", tuple(good.items())): 200,
        ("POST", "/all", tuple(good.items())): 405,
        ("OPTIONS", "/all", ()): 204,
        ("GET", "/nosuch", tuple(good.items())): 400,
    }
    for (method, path, headers), status in asked.items():
        assert (await _ask(fast, method, prefix + path, dict(headers)))[0] == status, path
    assert reached == [f"{method} {prefix}{path}" for method, path, _ in asked]


async def test_a_body_goes_to_quart() -> None:
    fast, _, prefix = _apps({})
    reached = _record_fallback(fast)
    resp = await fast.test_client().get(prefix + "/cpu", data=b"x", headers={"Content-Length": "1"})
    assert resp.status_code == 200
    assert reached == [f"GET {prefix}/cpu"]


async def test_an_error_reading_the_state_is_quarts_500(caplog: pytest.LogCaptureFixture) -> None:
    fast, slow, prefix = _apps({}, _BrokenCpuState)
    caplog.set_level(logging.ERROR)
    got = await _ask(fast, "GET", prefix + "/cpu", {})
    assert got == await _ask(slow, "GET", prefix + "/cpu", {})
    assert got[0] == 500 and b"Internal error" in got[2]
    assert sum("unhandled error" in r.getMessage() for r in caplog.records) == 2


async def test_without_prefix_routes_the_prefix_is_not_served() -> None:
    fast, _, _ = _apps(CONFIGS["auth+prefix"])
    assert isinstance(fast.asgi_app, FastPath)
    assert all(path.startswith("/gl/api/4/") for path in fast.asgi_app.routes)
    assert "/gl/api/4/all" in fast.asgi_app.routes
    assert "/gl/api/4/cpu/" not in fast.asgi_app.routes


# -- over real sockets ------------------------------------------------------------------


@asynccontextmanager
async def _served(*apps: Any) -> AsyncIterator[list[int]]:
    """Each app on its own hypercorn on a free loopback port; yields the ports."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        ports = []
        for app in apps:
            hc = HypercornConfig()
            hc.bind = ["127.0.0.1:0"]
            hc.accesslog = None
            urls = await nursery.start(
                lambda task_status, app=app, hc=hc: hypercorn_serve(
                    app, hc, shutdown_trigger=stop.wait, task_status=task_status
                )
            )
            ports.append(int(urls[0].rsplit(":", 1)[1]))
        try:
            yield ports
        finally:
            stop.set()


class _Connection:
    """One keep-alive HTTP/1.1 connection, answers read by their Content-Length."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def _fill(self) -> None:
        chunk = await self._stream.receive_some(65536)
        assert chunk, "the server closed the connection"
        self._buffer += chunk

    async def ask(
        self, method: str, target: str, headers: dict[str, str] | list[tuple[str, str]]
    ) -> bytes:
        """The raw answer, without its ``date`` line (the one header that may differ)."""
        pairs = list(headers.items()) if isinstance(headers, dict) else headers
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in pairs]
        await self._stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self._buffer:
            await self._fill()
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if method == "HEAD":
            length = 0
        while len(self._buffer) < length:
            await self._fill()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        kept = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
        return b"\r\n".join(kept) + b"\r\n\r\n" + body


@asynccontextmanager
async def _connect(port: int) -> AsyncIterator[_Connection]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        yield _Connection(stream)


@pytest.mark.parametrize("name", CONFIGS)
async def test_real_http_answers_alike_byte_for_byte(name: str) -> None:
    fast, slow, prefix = _served_apps(CONFIGS[name])
    with trio.fail_after(30):
        async with _served(fast, slow) as (fast_port, slow_port):
            # one connection each for the whole matrix: keep-alive across both paths
            async with _connect(fast_port) as to_fast, _connect(slow_port) as to_slow:
                statuses = set()
                for method, path, headers in REQUESTS:
                    if method == "POST":
                        headers = {**headers, "Content-Length": "0"}
                    got = await to_fast.ask(method, prefix + path, headers)
                    want = await to_slow.ask(method, prefix + path, headers)
                    assert got == want, (method, path, headers)
                    statuses.add(got.split(b" ", 2)[1])
    assert {b"200", b"400", b"404", b"405"} <= statuses
    assert _lazy(fast).builds == 1  # Quart was loaded once, on the first fallback


async def test_real_http_head_and_gzip() -> None:
    fast, _, prefix = _served_apps({})
    with trio.fail_after(30):
        async with _served(fast) as (port,), _connect(port) as conn:
            get = await conn.ask("GET", prefix + "/all", {"Accept-Encoding": "gzip"})
            head = await conn.ask("HEAD", prefix + "/all", {"Accept-Encoding": "gzip"})
            plain = await conn.ask("GET", prefix + "/all", {})
    assert b"\r\ncontent-encoding: gzip\r\n" in get
    assert head == get.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"  # same head, no body
    assert gzip.decompress(get.partition(b"\r\n\r\n")[2]) == plain.partition(b"\r\n\r\n")[2]
    assert _lazy(fast).builds == 0  # Quart never loaded


async def test_real_http_repeated_headers_first_counts() -> None:
    fast, slow, prefix = _served_apps(CONFIGS["auth+prefix"] | CONFIGS["origins+gzip"])
    good, bad = _basic("admin", "s3cret"), _basic("admin", "nope")
    acao = b"\r\naccess-control-allow-origin: https://a.example\r\n"
    gzipped = b"\r\ncontent-encoding: gzip\r\n"
    cases: list[tuple[list[tuple[str, str]], Callable[[bytes], bool]]] = [
        ([("Authorization", good), ("Authorization", bad)], lambda a: b" 200 " in a),
        ([("Authorization", bad), ("Authorization", good)], lambda a: b" 401 " in a),
        (
            [("Authorization", good), ("Origin", "https://a.example"), ("Origin", "https://b")],
            lambda a: acao in a,
        ),
        (
            [("Authorization", good), ("Origin", "https://b"), ("Origin", "https://a.example")],
            lambda a: b" 200 " in a and acao not in a,
        ),
        (
            [("Authorization", good), ("Accept-Encoding", "identity"), ("Accept-Encoding", "gzip")],
            lambda a: b" 200 " in a and gzipped not in a,
        ),
        (
            [("Authorization", good), ("Accept-Encoding", "gzip"), ("Accept-Encoding", "identity")],
            lambda a: gzipped in a,
        ),
    ]
    with trio.fail_after(30):
        async with _served(fast, slow) as (fast_port, slow_port):
            async with _connect(fast_port) as to_fast, _connect(slow_port) as to_slow:
                for headers, expected in cases:
                    got = await to_fast.ask("GET", prefix + "/cpu", headers)
                    assert got == await to_slow.ask("GET", prefix + "/cpu", headers), headers
                    assert expected(got), (headers, got)


# -- the root app: Quart loaded on the first request the fast path does not answer --------


async def test_real_http_the_fast_routes_never_load_quart() -> None:
    root, _, prefix = _served_apps(CONFIGS["auth+prefix"])
    good = {"Authorization": _basic("admin", "s3cret"), "Accept-Encoding": "gzip"}
    with trio.fail_after(30):
        async with _served(root) as (port,), _connect(port) as conn:
            for path in ("/all", "/cpu", "/uptime", "/pluginslist", "/status"):
                for method in ("GET", "HEAD"):
                    assert b" 200 " in await conn.ask(method, prefix + path, good)
            assert b" 200 " in await conn.ask("GET", prefix + "/status", {})
            assert _lazy(root).builds == 0 and _lazy(root).app is None
            # a 401 is Quart's: it loads Quart
            answer = await conn.ask("GET", prefix + "/all", {})
            assert answer.startswith(b"HTTP/1.1 401 ")
            assert answer.endswith(b'{"detail":"Not authenticated"}')
            assert _lazy(root).builds == 1
            assert b" 200 " in await conn.ask("GET", prefix + "/cpu/total", good)
            assert b" 200 " in await conn.ask("GET", prefix + "/all", good)
    assert _lazy(root).builds == 1


class _CountingCreateApp:
    """Wraps ``api.app.create_app``: counts the apps built, and their lifespans'
    startups and shutdowns (the startup takes a while, so first requests pile up)."""

    def __init__(self, fail: int = 0) -> None:
        import api.app

        self._create_app = api.app.create_app
        self.fail = fail  # this many first builds raise
        self.built = self.started = self.stopped = 0

    def __call__(self, *args: Any, **kwargs: Any) -> QuartTrio:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("cannot build")
        app = self._create_app(*args, **kwargs)
        self.built += 1

        @app.before_serving
        async def _started() -> None:
            await trio.sleep(0.2)
            self.started += 1

        @app.after_serving
        async def _stopped() -> None:
            self.stopped += 1

        return app


async def test_concurrent_first_fallbacks_build_and_start_quart_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counting = _CountingCreateApp()
    monkeypatch.setattr("api.app.create_app", counting)
    root, _, prefix = _served_apps({})
    answers: list[bytes] = []

    async def ask(path: str) -> None:
        async with _connect(port) as conn:
            answers.append(await conn.ask("GET", prefix + path, {}))

    with trio.fail_after(30):
        async with _served(root) as (port,):
            async with trio.open_nursery() as nursery:
                for path in ("/cpu/total", "/config/api", "/nosuch", "/cpu/history") * 3:
                    nursery.start_soon(ask, path)
                nursery.start_soon(ask, "/all")  # the fast path does not wait for Quart
            assert (counting.built, counting.started, counting.stopped) == (1, 1, 0)
    # /cpu/history: no history handle here, so "history" is taken for a field (404)
    assert (
        sorted(a.split(b" ", 2)[1] for a in answers) == [b"200"] * 7 + [b"400"] * 3 + [b"404"] * 3
    )
    assert _lazy(root).builds == 1
    assert counting.stopped == 1  # the Quart app's lifespan was shut down with the root's


async def test_a_failure_to_load_quart_is_a_logged_json_500(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    counting = _CountingCreateApp(fail=1)
    monkeypatch.setattr("api.app.create_app", counting)
    root, _, prefix = _served_apps({})
    caplog.set_level(logging.ERROR)
    with trio.fail_after(30):
        async with _served(root) as (port,), _connect(port) as conn:
            failed = await conn.ask("GET", prefix + "/cpu/total", {})
            assert await conn.ask("GET", prefix + "/all", {}) == await conn.ask(
                "GET", prefix + "/all", {}
            )  # the fast path is not affected
            retried = await conn.ask("GET", prefix + "/cpu/total", {})
    head, _, body = failed.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ") and b"\r\ncontent-type: application/json\r\n" in head
    assert body == b'{"detail":"Internal error (logged by the server)"}'
    assert b"Traceback" not in failed and b"cannot build" not in failed
    assert [r.getMessage() for r in caplog.records] == ["api: could not load the Quart app"]
    assert retried.startswith(b"HTTP/1.1 200 ") and counting.built == 1


async def test_a_quart_startup_failure_is_a_json_500(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import api.app

    create_app = api.app.create_app

    def failing_startup(*args: Any, **kwargs: Any) -> QuartTrio:
        app = create_app(*args, **kwargs)

        @app.before_serving
        async def _boom() -> None:
            raise RuntimeError("no start")

        return app

    monkeypatch.setattr("api.app.create_app", failing_startup)
    root, _, prefix = _served_apps({})
    caplog.set_level(logging.ERROR)
    with trio.fail_after(30):
        async with _served(root) as (port,), _connect(port) as conn:
            failed = await conn.ask("GET", prefix + "/cpu/total", {})
    assert failed.startswith(b"HTTP/1.1 500 ")
    assert failed.endswith(b'{"detail":"Internal error (logged by the server)"}')
    assert "api: could not load the Quart app" in [r.getMessage() for r in caplog.records]
    assert _lazy(root).app is None


# -- the fast-route table, built without Quart, is the one Quart's URL map gives ---------


class _FixedWordState:
    """A state whose plugins are named like the fixed one-segment routes."""

    plugins = (
        *("status", "pluginslist", "all", "config", "args", "pipeline", "processes"),
        *("events", "alert", "cpu", "history", "limits", "views", "top"),
    )

    def all_json(self) -> bytes:
        return b"{}"

    def get_json(self, plugin: str) -> bytes:
        return plugin.encode()


def _table(routes: dict[str, FastRoute]) -> dict[str, tuple[bool, bytes]]:
    return {path: (route.open, route.body()) for path, route in routes.items()}


ROUTE_CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "prefix": {"api.url_prefix": "/glances/host-1"},
    "disabled": {"cpu.disable": True, "alert.disable": True, "processlist.disable": True},
    "auth": {"api.password": "s3cret", "uptime.disable": True},
}


@pytest.mark.parametrize("full", [False, True], ids=["state-only", "every-handle"])
@pytest.mark.parametrize("name", ROUTE_CONFIGS)
def test_the_fast_route_table_is_the_one_quarts_url_map_gives(
    name: str, full: bool, tmp_path: Any
) -> None:
    from pipeline.runner import SamplerRunner
    from pipeline.stages.alerts import AlertStage
    from pipeline.stages.history import HistoryStage
    from pipeline.stages.thresholds import ThresholdStage

    handles, _ = _handles(ROUTE_CONFIGS[name])
    if full:
        bus, config, enabled = Bus(), handles.config, handles.config.enabled_plugins()
        handles = ApiHandles(
            config,
            handles.state,
            alerts=AlertStage(bus, config, tmp_path),
            thresholds=ThresholdStage(bus, config, enabled),
            history=HistoryStage(bus, config, enabled),
            runner=SamplerRunner(bus, config, []),
            bus=bus,
        )
    want = url_map_fast_routes(create_app(handles, fast_path=False), handles)
    assert _table(fast_routes(handles)) == _table(want)
    assert len(want) == len(handles.state.plugins) + 3


@pytest.mark.parametrize("pipeline", [False, True])
def test_fixed_words_win_over_plugin_names_in_both_tables(pipeline: bool) -> None:
    config = load(overrides={"api.url_prefix": "/p"})
    state: Any = _FixedWordState()
    bus = Bus()
    runner: Any = object() if pipeline else None
    handles = ApiHandles(config, state, runner=runner, bus=bus if pipeline else None)
    want = url_map_fast_routes(create_app(handles, fast_path=False), handles)
    got = fast_routes(handles)
    assert _table(got) == _table(want)
    assert ("/p/api/4/pipeline" in got) is not pipeline
    assert "/p/api/4/config" not in got and "/p/api/4/all" in got
    assert _table(got)["/p/api/4/processes"] == (False, b"processes")
    assert _table(got)["/p/api/4/status"] == (True, b'{"version":"%s"}' % __version__.encode())


def test_the_gzip_cache_answers_a_repeat_and_stays_small() -> None:
    """A body asked for again is not compressed again; every sample makes new bodies,
    so the cache keeps only the last few (one /all and its gzip is ~0.3 MB)."""
    import gzip

    from api.http import _GZIP_CACHE_SIZE, GzipCache

    cache = GzipCache()
    body = b'{"cpu": {"total": 1.0}}' * 1000
    packed = cache.compress(body)
    assert gzip.decompress(packed) == body
    assert cache.compress(bytes(body)) is packed  # equal content: the same bytes back
    for n in range(50):
        cache.compress(body + str(n).encode())
    assert len(cache._entries) <= _GZIP_CACHE_SIZE <= 8
