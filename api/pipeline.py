"""``GET /api/4/pipeline``: a window into statbus itself (outside the plugin namespace).

Per sampler family: state, runs, failures, last run and duration; per bus subscriber:
delivered, dropped, queue depth; per sink: connection state, queue depth, drops; and
statbus's own uptime.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from quart import Blueprint, Response

from api.errors import json_value
from pipeline import __version__
from pipeline.bus import Bus
from pipeline.runner import SamplerRunner


def pipeline_blueprint(
    runner: SamplerRunner,
    bus: Bus,
    sinks: Mapping[str, Callable[[], dict[str, Any]]],
    started_at: float,
) -> Blueprint:
    bp = Blueprint("pipeline", __name__)

    @bp.route("/pipeline")
    async def pipeline() -> Response:
        return json_value(
            {
                "version": __version__,
                "uptime": round(time.time() - started_at, 3),
                "samplers": {name: s.as_dict() for name, s in runner.status.items()},
                "thread_calls": runner.thread_calls,
                "subscribers": bus.subscribers(),
                "sinks": {name: describe() for name, describe in sinks.items()},
            }
        )

    return bp
