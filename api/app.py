"""The app factory: handles in, a quart-trio app out.

This is the Quart side of the API: ``api.root`` imports it on the first request the fast
path does not answer (``docs/architecture.md``, "The request path").
"""

from __future__ import annotations

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from api import errors, http, http_hooks, server_limits
from api.alerts import alerts_blueprint
from api.fastpath import FastPath, FastRoute, cached_bodies, fast_routes
from api.glances import glances_blueprint
from api.handles import ApiHandles
from api.history import history_blueprint
from api.limits import limits_blueprint
from api.metrics import metrics_blueprint
from api.openapi import openapi_blueprint
from api.pipeline import pipeline_blueprint
from api.stream import stream_blueprint

__all__ = ["ApiHandles", "create_app", "url_map_fast_routes"]


class _AnyPath(PathConverter):
    """Like ``path`` but also matches an empty value and a leading ``/`` (``value//``)."""

    regex = ".*"
    part_isolating = False


def create_app(
    handles: ApiHandles, *, fast_path: bool = True, rules: http.HttpRules | None = None
) -> QuartTrio:
    """The app; with ``fast_path`` (the default) the cached GET routes are answered in
    front of Quart (``api/fastpath.py``, installed as ``asgi_app`` so the test client
    goes through it); without, Quart answers everything (as behind ``api.root``, which
    has the fast path in front).  ``rules`` shares the fast path's auth/CORS/gzip rules
    (and gzip cache)."""
    # no /static route: Quart would serve the files of <cwd>/static to anyone
    app = QuartTrio("statbus", static_folder=None)
    app.url_map.converters["anypath"] = _AnyPath
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    # Quart adds a JSON/HTML error body of its own for aborts; ours are all JSON.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    # No route reads a request body: refuse a large one, and buffer at most that much of
    # one that comes unannounced (chunked); a body is never waited for long.
    app.config["MAX_CONTENT_LENGTH"] = server_limits.MAX_BODY_BYTES
    app.config["BODY_TIMEOUT"] = server_limits.BODY_TIMEOUT
    if rules is None:
        rules = http.HttpRules(handles.config.api)
    prefix = f"{handles.config.api.url_prefix}/api/4"
    if handles.alerts is not None:
        app.register_blueprint(alerts_blueprint(handles.alerts), url_prefix=prefix)
    enabled = list(handles.state.plugins)
    if handles.thresholds is not None:
        app.register_blueprint(limits_blueprint(handles.thresholds, enabled), url_prefix=prefix)
    if handles.history is not None:
        app.register_blueprint(history_blueprint(handles.history, enabled), url_prefix=prefix)
    if handles.runner is not None and handles.bus is not None:
        bp = pipeline_blueprint(handles.runner, handles.bus, handles.sinks, handles.started_at)
        app.register_blueprint(bp, url_prefix=prefix)
    app.register_blueprint(stream_blueprint(handles), url_prefix=prefix)
    app.register_blueprint(openapi_blueprint(handles), url_prefix=handles.config.api.url_prefix)
    # /metrics sits beside /api/4, where Prometheus looks for it
    app.register_blueprint(
        metrics_blueprint(handles, rules), url_prefix=handles.config.api.url_prefix
    )
    app.register_blueprint(glances_blueprint(handles), url_prefix=prefix)
    errors.install(app)

    @app.before_request
    async def _refuse_large_body() -> Response | None:
        # before auth (http_hooks): a 413 says nothing about the API to anyone
        length = request.content_length
        if length is not None and length > server_limits.MAX_BODY_BYTES:
            return errors.error_response(
                413,
                f"Request body too large: statbus reads none "
                f"(at most {server_limits.MAX_BODY_BYTES} bytes are accepted)",
            )
        return None

    http_hooks.install(app, rules)
    if fast_path:
        app.asgi_app = FastPath(app.asgi_app, fast_routes(handles), rules)  # type: ignore[method-assign]
    return app


def url_map_fast_routes(app: QuartTrio, handles: ApiHandles) -> dict[str, FastRoute]:
    """The cached bodies at the full paths that Quart's own URL map routes to their
    endpoints: what ``api.fastpath.fast_routes`` must equal (a test compares them)."""
    prefix = f"{handles.config.api.url_prefix}/api/4"
    adapter = app.url_map.bind("localhost")
    routes = {}
    for path, (endpoint, body) in cached_bodies(handles).items():
        full = prefix + path
        try:
            matched, _ = adapter.match(full, method="GET")
        except HTTPException:  # no such route, or a redirect
            continue
        if matched == endpoint:
            routes[full] = FastRoute(body, open=endpoint == http.STATUS_ENDPOINT)
    return routes
