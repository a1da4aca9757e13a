"""``GET /metrics``: the Prometheus page, beside ``/api/4`` (``docs/metrics.md``).

The Prometheus text format by default, OpenMetrics when the ``Accept`` header asks for
it; made by :mod:`api.metrics_page` from the current state.  Auth, CORS and gzip apply
as to every Quart route (``api/http_hooks.py``).
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from api.handles import ApiHandles
from api.http import HttpRules
from api.metrics_page import MetricsPage
from api.metrics_pipeline import PipelineCollector


def metrics_page(handles: ApiHandles, rules: HttpRules | None = None) -> MetricsPage:
    """The page; with ``rules`` (of an API with a password), its login counters too."""
    pipeline = PipelineCollector(
        handles.state,
        started_at=handles.started_at,
        alerts=handles.alerts,
        thresholds=handles.thresholds,
        runner=handles.runner,
        bus=handles.bus,
        sinks=handles.sinks,
        logins=rules.auth.counters if rules is not None and rules.needs_auth else None,
    )
    return MetricsPage(handles.state, pipeline)


def metrics_blueprint(handles: ApiHandles, rules: HttpRules | None = None) -> Blueprint:
    bp = Blueprint("metrics", __name__)
    page = metrics_page(handles, rules)

    @bp.route("/metrics", methods=["GET"])
    async def metrics() -> Response:
        body, content_type = page.render(request.headers.get("Accept"))
        return Response(body, status=200, content_type=content_type)

    return bp
