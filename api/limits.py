"""Limits and views routes: ``/all/limits``, ``/<plugin>/limits``, ``/all/views``,
``/<plugin>/views``, ``/<plugin>/<item>/views`` and ``/<plugin>/<item>/<key>/views``.

Served from the threshold stage's latest verdicts.  An unknown plugin answers 400 as the
reference does; an unknown item or key answers 404 ``{"detail": ...}`` (the reference
answers 200 ``null``).
"""

from __future__ import annotations

from collections.abc import Sequence

from quart import Blueprint, Response

from api.errors import ApiError, json_value, plugin_gate
from pipeline.plugins import PluginInfo
from pipeline.stages.thresholds import ThresholdStage


def limits_blueprint(stage: ThresholdStage, enabled: Sequence[str]) -> Blueprint:
    bp = Blueprint("limits", __name__)
    served = list(enabled)
    plugin_info = plugin_gate(served)

    def unknown(info: PluginInfo, name: str) -> ApiError:
        if info.kind == "list":
            return ApiError(
                404, f"Cannot get views of {info.key} {name} in plugin {info.name} (no such item)"
            )
        return ApiError(404, f"Unknown field {name} in plugin {info.name}")

    @bp.route("/all/limits")
    async def all_limits() -> Response:
        return json_value({p: stage.limits(p) for p in served})

    @bp.route("/all/views")
    async def all_views() -> Response:
        return json_value({p: stage.views(p) for p in served})

    @bp.route("/<plugin>/limits")
    async def plugin_limits(plugin: str) -> Response:
        plugin_info(plugin)
        return json_value(stage.limits(plugin))

    @bp.route("/<plugin>/views")
    async def plugin_views(plugin: str) -> Response:
        plugin_info(plugin)
        return json_value(stage.views(plugin))

    @bp.route("/<plugin>/<item>/views")
    async def item_views(plugin: str, item: str) -> Response:
        """Dict plugins: the field's view; list plugins: *item* is a key value
        (``/network/eth0/views``) and the answer is that entry's ``{field: view}``."""
        info = plugin_info(plugin)
        views = stage.views(plugin)
        if not isinstance(views, dict) or item not in views:
            raise unknown(info, item)
        return json_value(views[item])

    @bp.route("/<plugin>/<item>/<key>/views")
    async def item_key_views(plugin: str, item: str, key: str) -> Response:
        """``views[key][item]``: for list plugins, field *item* of the entry *key*
        (``/network/bytes_recv/eth0/views``)."""
        info = plugin_info(plugin)
        views = stage.views(plugin)
        if not isinstance(views, dict) or key not in views:
            raise unknown(info, key)
        entry = views[key]
        if not isinstance(entry, dict) or item not in entry:
            raise ApiError(
                404, f"Cannot get item {item} for key {key} in plugin {plugin} (no such field)"
            )
        return json_value(entry[item])

    return bp
