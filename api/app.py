"""The app factory: handles in, a quart-trio app out."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from api import errors, http
from api.alerts import alerts_blueprint
from api.fastpath import FastPath, FastRoute
from api.glances import cached_bodies, glances_blueprint
from api.history import history_blueprint
from api.limits import limits_blueprint
from api.pipeline import pipeline_blueprint
from pipeline.bus import Bus
from pipeline.config import Config
from pipeline.samplers.runner import RuntimeOptions, SamplerRunner
from pipeline.stages.alerts import AlertStage
from pipeline.stages.history import HistoryStage
from pipeline.stages.state import StateStage
from pipeline.stages.thresholds import ThresholdStage


@dataclass(frozen=True)
class ApiHandles:
    """The read-only handles (and the one command handle) the API serves from."""

    config: Config
    state: StateStage
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    args: Mapping[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    alerts: AlertStage | None = None
    thresholds: ThresholdStage | None = None
    history: HistoryStage | None = None
    #: for /pipeline: the runner, the bus and each sink's ``as_dict``
    runner: SamplerRunner | None = None
    bus: Bus | None = None
    sinks: Mapping[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)


class _AnyPath(PathConverter):
    """Like ``path`` but also matches an empty value and a leading ``/`` (``value//``)."""

    regex = ".*"
    part_isolating = False


def create_app(handles: ApiHandles, *, fast_path: bool = True) -> QuartTrio:
    """The app; with ``fast_path`` (the default) the cached GET routes are answered in
    front of Quart (``api/fastpath.py``); without, Quart answers everything (tests
    compare the two)."""
    app = QuartTrio("statbus")
    app.url_map.converters["anypath"] = _AnyPath
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    # Quart adds a JSON/HTML error body of its own for aborts; ours are all JSON.
    app.config["PROPAGATE_EXCEPTIONS"] = False
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
    app.register_blueprint(glances_blueprint(handles), url_prefix=prefix)
    errors.install(app)
    rules = http.HttpRules(handles.config.api)
    http.install(app, rules)
    if fast_path:
        app.asgi_app = FastPath(app.asgi_app, _fast_routes(app, handles, prefix), rules)  # type: ignore[method-assign]
    return app


def _fast_routes(app: QuartTrio, handles: ApiHandles, prefix: str) -> dict[str, FastRoute]:
    """The cached bodies at the full paths that Quart itself routes to their endpoints."""
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
