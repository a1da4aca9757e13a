"""The fast path: the cached GET routes answered before Quart sees the request.

Clients poll ``/all`` and ``/<plugin>`` over and over, and their answers are bytes the
state stage already holds.  Quart's per-request machinery (request object, contexts,
routing, hooks, response object, two tasks) costs more than hypercorn itself, so
:class:`FastPath` wraps the app's ASGI callable (``app.asgi_app``, Quart's middleware
seam): a GET or HEAD of a path in its table is answered at once, with the status,
headers and body that Quart would give.  Everything else goes to Quart unchanged:
other routes and methods, a trailing slash, a request with a body, missing or wrong
credentials (the 401s and 429s: the fast path checks them, ``api/http_auth.py``, and
hands Quart its verdict in the scope), and any error while reading the state (Quart logs
it and answers 500).  So every answer but the cached 200s still has one source.

The table (:func:`fast_routes`) is built once, without Quart: the cached bodies
(:func:`cached_bodies`) at their full paths, but for a ``/<plugin>`` path that one of
Quart's fixed one-segment routes takes (:func:`fixed_paths`).  A test requires it to equal
the table derived from Quart's own URL map (``api.app.url_map_fast_routes``) for several
configurations, so route precedence cannot differ.  This module does not import Quart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

import orjson
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from api.http import AUTH_SCOPE_KEY, STATUS_ENDPOINT, HttpRules
from api.http_auth import client_address
from pipeline import __version__

if TYPE_CHECKING:
    from api.handles import ApiHandles

AsgiApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

_READS = frozenset({"GET", "HEAD"})
_CONTENT_TYPE = (b"content-type", b"application/json")
_VARY_ORIGIN = (b"vary", b"Origin")
_GZIP = ((b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding"))


#: a body ready to serve, and the endpoint (of ``api.glances``' blueprint) that serves it
CachedBody = tuple[str, Callable[[], bytes]]


def cached_bodies(h: ApiHandles) -> dict[str, CachedBody]:
    """Path (after ``/api/4``) -> endpoint and body, for the GET routes whose 200 answer
    is bytes held ready: the blueprint's handlers and the fast path serve the same ones."""
    status_body = orjson.dumps({"version": __version__})
    pluginslist_body = orjson.dumps(list(h.state.plugins))
    bodies: dict[str, CachedBody] = {
        "/status": (STATUS_ENDPOINT, lambda: status_body),
        "/pluginslist": ("glances.pluginslist", lambda: pluginslist_body),
        "/all": ("glances.all_stats", h.state.all_json),
    }
    for plugin in h.state.plugins:
        bodies.setdefault(f"/{plugin}", ("glances.plugin_stats", partial(h.state.get_json, plugin)))
    return bodies


def fixed_paths(h: ApiHandles) -> frozenset[str]:
    """The one-segment paths (after ``/api/4``) that the Quart app routes by a fixed word:
    a plugin of that name is not served at ``/<plugin>`` (the fixed route wins)."""
    fixed = {"/status", "/pluginslist", "/all", "/config", "/args"}  # api.glances
    if h.runner is not None and h.bus is not None:
        fixed.add("/pipeline")  # api.pipeline
    return frozenset(fixed)


def fast_routes(h: ApiHandles) -> dict[str, FastRoute]:
    """Full path -> :class:`FastRoute`: the cached bodies at the paths where Quart would
    route to the same endpoint (without importing Quart)."""
    prefix = f"{h.config.api.url_prefix}/api/4"
    fixed = fixed_paths(h)
    return {
        prefix + path: FastRoute(body, open=endpoint == STATUS_ENDPOINT)
        for path, (endpoint, body) in cached_bodies(h).items()
        if endpoint != "glances.plugin_stats" or path not in fixed
    }


@dataclass(frozen=True, slots=True)
class FastRoute:
    """One full path's answer: its body, and whether it is served without credentials."""

    body: Callable[[], bytes]
    open: bool = False


class FastPath:
    """An ASGI app: ``routes`` (full path -> :class:`FastRoute`) answered from bytes,
    everything else passed to ``fallback`` (Quart)."""

    def __init__(
        self, fallback: AsgiApp, routes: Mapping[str, FastRoute], rules: HttpRules
    ) -> None:
        self.fallback = fallback
        self.routes = dict(routes)
        self._rules = rules
        any_origin = rules.allowed_origin(None)
        # With "*" every answer carries the same CORS headers, whatever the Origin.
        self._cors_any = (
            ((b"access-control-allow-origin", any_origin.encode()), _VARY_ORIGIN)
            if any_origin is not None
            else None
        )

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http" or scope["method"] not in _READS or scope.get("root_path"):
            await self.fallback(scope, receive, send)
            return
        route = self.routes.get(scope["path"])
        wanted = None if route is None else _read_headers(scope["headers"])
        if route is None or wanted is None:
            await self.fallback(scope, receive, send)
            return
        authorization, origin, accept_encoding = wanted
        if self._rules.needs_auth and not route.open:
            # remembered credentials cost one HMAC here; new ones a check (a hash's in a
            # worker thread) that is then remembered
            verdict = await self._rules.authenticate(
                None if authorization is None else authorization.decode("latin1"),
                client_address(scope.get("client")),
            )
            if not verdict.ok:  # Quart answers the 401 or 429, with this verdict
                await self.fallback(
                    cast("Scope", {**scope, AUTH_SCOPE_KEY: verdict}), receive, send
                )
                return
        answer = self._answer(route, origin, accept_encoding)
        if answer is None:
            await self.fallback(scope, receive, send)
            return
        headers, body = answer
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _answer(
        self, route: FastRoute, origin: bytes | None, accept_encoding: bytes | None
    ) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """Headers and body (credentials already checked), or ``None`` to leave the
        request to Quart."""
        rules = self._rules
        try:
            body = route.body()
        except Exception:  # Quart meets it again, logs it and answers 500
            return None
        headers = [_CONTENT_TYPE, (b"content-length", b"")]
        if self._cors_any is not None:
            headers.extend(self._cors_any)
        elif origin is not None:
            allow = rules.allowed_origin(origin.decode("latin1"))
            if allow is not None:
                headers.append((b"access-control-allow-origin", allow.encode()))
                headers.append(_VARY_ORIGIN)
        if accept_encoding is not None and b"gzip" in accept_encoding:
            packed = rules.gzipped(body)
            if packed is not None:
                body = packed
                headers.extend(_GZIP)
        headers[1] = (b"content-length", b"%d" % len(body))
        return headers, body


def _read_headers(
    request_headers: Iterable[tuple[bytes, bytes]],
) -> tuple[bytes | None, bytes | None, bytes | None] | None:
    """``Authorization``, ``Origin`` and ``Accept-Encoding`` (the first of repeated
    headers counts, as in Quart's ``request.headers.get``); ``None`` when the request has
    a body to read (Quart's request handling)."""
    authorization = origin = accept_encoding = None
    for name, value in request_headers:
        if name == b"authorization":
            if authorization is None:
                authorization = value
        elif name == b"origin":
            if origin is None:
                origin = value
        elif name == b"accept-encoding":
            if accept_encoding is None:
                accept_encoding = value
        elif name == b"content-length" or name == b"transfer-encoding":
            return None
    return authorization, origin, accept_encoding
