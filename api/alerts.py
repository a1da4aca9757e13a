"""``POST /events/clear/warning`` and ``/events/clear/all``: commands to the alert stage.

The API never edits the events list: it sends the command and answers ``{}`` once the
stage has applied it (so a following ``GET /alert`` already shows the result).
"""

from __future__ import annotations

from quart import Blueprint, Response

from api.errors import json_response
from pipeline.stages.alerts import AlertStage


def alerts_blueprint(stage: AlertStage) -> Blueprint:
    bp = Blueprint("alerts", __name__)

    @bp.route("/events/clear/warning", methods=["POST"])
    async def clear_warning() -> Response:
        await stage.clear(critical=False)
        return json_response(b"{}")

    @bp.route("/events/clear/all", methods=["POST"])
    async def clear_all() -> Response:
        await stage.clear(critical=True)
        return json_response(b"{}")

    return bp
