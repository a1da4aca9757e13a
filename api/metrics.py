"""``GET /metrics``: the Prometheus page, beside ``/api/4`` (``docs/metrics.md``).

The Prometheus text format by default, OpenMetrics when the ``Accept`` header asks for
it; made by :mod:`pipeline.metrics` from the current state.  Auth, CORS and gzip apply
as to every Quart route (``api/http_hooks.py``).
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from api.handles import ApiHandles
from pipeline.metrics import MetricsPage
from pipeline.metrics_pipeline import PipelineCollector


def metrics_page(handles: ApiHandles) -> MetricsPage:
    pipeline = PipelineCollector(
        handles.state,
        started_at=handles.started_at,
        alerts=handles.alerts,
        thresholds=handles.thresholds,
        runner=handles.runner,
        bus=handles.bus,
        sinks=handles.sinks,
    )
    return MetricsPage(handles.state, pipeline)


def metrics_blueprint(handles: ApiHandles) -> Blueprint:
    bp = Blueprint("metrics", __name__)
    page = metrics_page(handles)

    @bp.route("/metrics", methods=["GET"])
    async def metrics() -> Response:
        body, content_type = page.render(request.headers.get("Accept"))
        return Response(body, status=200, content_type=content_type)

    return bp
