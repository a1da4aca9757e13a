"""The ASGI app hypercorn serves: the fast path in front, Quart loaded when first needed.

Importing Quart (with werkzeug, flask, jinja2, click, ...) costs about 10 MiB of RSS, and
a statbus polled only on the cached routes (Home Assistant reads ``/api/4/all``) never
needs it: the fast path (``api/fastpath.py``) answers those from bytes.  So the root app
is the fast path with a :class:`LazyApp` behind it.  The first request the fast path
hands on (another route or method, a 401, a body, an error reading the state) imports
the Quart side (``api.app``, in a thread: the fast path keeps answering meanwhile),
builds the app as ``create_app`` always has, starts the app's own ASGI lifespan, and
hands it the request; every later such request goes straight to it.

The root app answers hypercorn's lifespan itself (:class:`LazyApp`): the Quart app's
lifespan runs in a task of a nursery that lives as long as the root's, over memory
channels, and is shut down (bounded) when the root's is.  None of this module's imports
is Quart's.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import orjson
import trio

from api.fastpath import AsgiApp, FastPath, fast_routes
from api.http import HttpRules

if TYPE_CHECKING:
    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope

    from api.handles import ApiHandles

log = logging.getLogger(__name__)

#: bounds on the loaded app's own lifespan startup and shutdown, in seconds
STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 1.0

_INTERNAL_ERROR = orjson.dumps({"detail": "Internal error (logged by the server)"})


def create_root_app(handles: ApiHandles) -> FastPath:
    """The fast path in front of the Quart app, which is built on first use; both share
    one :class:`HttpRules` (and so one gzip cache)."""
    rules = HttpRules(handles.config.api)

    def build() -> AsgiApp:
        from api.app import create_app

        return create_app(handles, fast_path=False, rules=rules)

    return FastPath(LazyApp(build, preload="api.app"), fast_routes(handles), rules)


class LazyApp:
    """An ASGI app that builds the app it forwards to (``build()``) on the first request,
    once, after importing the module ``preload`` in a thread.  It answers the lifespan
    itself; while that runs, the built app's own lifespan is started before the app gets
    its first request, and shut down with it.  A failure to build or start the app is
    logged and answered as a JSON 500 (the next request tries again)."""

    def __init__(self, build: Callable[[], AsgiApp], *, preload: str | None = None) -> None:
        self._build = build
        self._preload = preload
        self._lock = trio.Lock()
        #: the built (and started) app, once there is one
        self.app: AsgiApp | None = None
        #: how many times ``build`` was called
        self.builds = 0
        self._nursery: trio.Nursery | None = None  # the lifespan's, while it runs
        self._lifespan: _Lifespan | None = None  # the built app's, once started

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        app = self.app
        if app is None:
            try:
                app = await self._load()
            except Exception:
                log.exception("api: could not load the Quart app")
                await _internal_error(scope, send)
                return
        await app(scope, receive, partial(_send_unless_closing, send))

    async def _load(self) -> AsgiApp:
        async with self._lock:
            if self.app is not None:
                return self.app  # built while this request waited for the lock
            if self._preload is not None:
                await trio.to_thread.run_sync(importlib.import_module, self._preload)
            app = self._build()
            self.builds += 1
            if self._nursery is not None:
                self._lifespan = await _Lifespan.start(app, self._nursery)
            # without a lifespan (a server that sends none) the app runs unstarted, as
            # under Quart's test client
            self.app = app
            return app

    async def _serve_lifespan(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        try:
            async with trio.open_nursery() as nursery:
                while (await receive())["type"] != "lifespan.shutdown":
                    self._nursery = nursery  # lifespan.startup
                    await send({"type": "lifespan.startup.complete"})
                with trio.move_on_after(SHUTDOWN_TIMEOUT):
                    async with self._lock:  # not while the app is being started
                        self._nursery = None
                        lifespan, self._lifespan = self._lifespan, None
                        if lifespan is not None:
                            await lifespan.stop()
                nursery.cancel_scope.cancel()
        finally:
            self._nursery = None
        await send({"type": "lifespan.shutdown.complete"})


class _Lifespan:
    """An ASGI app's lifespan, driven over memory channels from a task of a nursery."""

    def __init__(self, app: AsgiApp) -> None:
        self._app = app
        self._to_app, self._app_receives = trio.open_memory_channel[Any](1)
        self._app_sends, self._from_app = trio.open_memory_channel[Any](1)
        self._cancel = trio.CancelScope()

    @classmethod
    async def start(cls, app: AsgiApp, nursery: trio.Nursery) -> _Lifespan:
        lifespan = cls(app)
        nursery.start_soon(lifespan._run)
        try:
            with trio.fail_after(STARTUP_TIMEOUT):
                await lifespan._ask("lifespan.startup", "lifespan.startup.complete")
        except BaseException:
            lifespan._cancel.cancel()
            raise
        return lifespan

    async def stop(self) -> None:
        """Shut the app's lifespan down; the caller bounds the wait."""
        try:
            await self._ask("lifespan.shutdown", "lifespan.shutdown.complete")
        except (RuntimeError, trio.EndOfChannel):
            log.exception("api: the Quart app did not shut down cleanly")
        finally:
            self._cancel.cancel()

    async def _run(self) -> None:
        scope = cast(
            "Scope",
            {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}},
        )
        with self._cancel:
            async with self._app_sends:  # closed when the app returns: EndOfChannel
                try:
                    await self._app(scope, self._app_receives.receive, self._app_sends.send)
                except Exception:
                    log.exception("api: the Quart app's lifespan failed")

    async def _ask(self, message: str, expected: str) -> None:
        await self._to_app.send({"type": message})
        answer = await self._from_app.receive()
        if answer["type"] != expected:
            raise RuntimeError(f"{answer['type']}: {answer.get('message', '')}")


async def _send_unless_closing(send: ASGISendCallable, message: ASGISendEvent) -> None:
    """``send``, but a connection hypercorn is closing under it is not an app error.

    hypercorn (0.17, 0.18) closes a connection whose client broke the protocol (it went
    away before sending the body its ``Content-Length`` announced) from its reading
    task, with ``send_eof`` outside the lock its writes take; if the app is writing the
    end of its answer at that moment (a 413 sent without reading the body, read by the
    client, which then closed) trio raises ``BusyResourceError`` into the app, and
    hypercorn logs an "Error in ASGI Framework" traceback.  The client has its whole
    answer and the connection is closing: nothing is lost by letting the app finish."""
    try:
        await send(message)
    except trio.BusyResourceError:
        log.debug("api: connection closed by hypercorn while the app wrote its answer")


async def _internal_error(scope: Scope, send: ASGISendCallable) -> None:
    if scope["type"] == "http":
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(_INTERNAL_ERROR)),
        ]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": _INTERNAL_ERROR, "more_body": False})
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1011, "reason": None})
