"""The history routes of the Glances REST API v4 (``{url_prefix}/api/4/...``).

* ``/<plugin>/history[/<nb>]``: ``{series: [[iso ts, value], ...]}`` (``{}`` for a
  plugin that keeps no history);
* ``/<plugin>/<item>/history[/<nb>]``: one series as a **bare list**
  ``[[iso ts, value], ...]`` (what the reference serves, whatever its docs say).

``nb`` as the reference: the points ``[-nb:]`` (0: all, 3: the newest 3, -3: all but the
oldest 3).  An unknown series is 404 ``{"detail": ...}`` (the reference answers
``null``), as statbus does for unknown fields.
"""

from __future__ import annotations

from collections.abc import Sequence

from quart import Blueprint, Response

from api.errors import ApiError, json_value, parse_int, plugin_gate
from pipeline.stages.history import HistoryStage


def history_blueprint(stage: HistoryStage, enabled: Sequence[str]) -> Blueprint:
    bp = Blueprint("history", __name__)
    check_plugin = plugin_gate(enabled)

    def series_response(plugin: str, name: str, nb: int) -> Response:
        check_plugin(plugin)
        points = stage.item_history(plugin, name, nb)
        if points is None:
            raise ApiError(404, f"Unknown history item {name} in plugin {plugin}")
        return json_value(points)

    @bp.route("/<plugin>/history")
    async def plugin_history(plugin: str) -> Response:
        check_plugin(plugin)
        return json_value(stage.plugin_history(plugin, 0))

    @bp.route("/<plugin>/history/<nb>")
    async def plugin_history_nb(plugin: str, nb: str) -> Response:
        check_plugin(plugin)
        return json_value(stage.plugin_history(plugin, parse_int("nb", nb)))

    @bp.route("/<plugin>/<item>/history")
    async def item_history(plugin: str, item: str) -> Response:
        return series_response(plugin, item, 0)

    @bp.route("/<plugin>/<item>/history/<nb>")
    async def item_history_nb(plugin: str, item: str, nb: str) -> Response:
        check_plugin(plugin)
        return series_response(plugin, item, parse_int("nb", nb))

    return bp
