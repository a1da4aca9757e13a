"""The Glances REST API v4 routes (``{url_prefix}/api/4/...``).

Route precedence follows the reference: fixed segments (``top``, ``value``,
``description``, ``unit``, ``processes``, ``config``, ``args``) win over field names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response

from api import query
from api.errors import ApiError, json_response, json_value, parse_int, plugin_gate
from api.fastpath import cached_bodies

if TYPE_CHECKING:
    from api.handles import ApiHandles


def glances_blueprint(h: ApiHandles) -> Blueprint:
    bp = Blueprint("glances", __name__)
    enabled = list(h.state.plugins)
    enabled_set = frozenset(enabled)
    bodies = cached_bodies(h)
    status_body = bodies["/status"][1]
    pluginslist_body = bodies["/pluginslist"][1]

    plugin_info = plugin_gate(enabled)

    def processes() -> list[dict[str, Any]]:
        if "processlist" not in enabled_set:
            raise ApiError(404, "The processlist plugin is disabled")
        data: list[dict[str, Any]] = h.state.get("processlist")
        return data

    def process(pid: int) -> dict[str, Any] | None:
        return next((p for p in processes() if p.get("pid") == pid), None)

    @bp.route("/status", methods=["GET", "HEAD"])
    async def status() -> Response:
        return json_response(status_body())

    @bp.route("/pluginslist")
    async def pluginslist() -> Response:
        return json_response(pluginslist_body())

    @bp.route("/all")
    async def all_stats() -> Response:
        return json_response(h.state.all_json())

    # -- processes -----------------------------------------------------------------

    @bp.route("/processes/extended")
    async def processes_extended() -> Response:
        pid = h.options.extended_pid
        found = process(pid) if pid is not None else None
        return json_value(found if found is not None and found.get("extended_stats") else {})

    @bp.route("/processes/extended/disable", methods=["POST"])
    async def processes_extended_disable() -> Response:
        h.options.extended_pid = None
        return json_value(True)

    @bp.route("/processes/extended/<pid>", methods=["POST"])
    async def processes_extended_enable(pid: str) -> Response:
        number = parse_int("pid", pid)
        if process(number) is None:
            raise ApiError(404, f"Unknown PID process {number}")
        h.options.extended_pid = number
        return json_value(True)

    @bp.route("/processes/<pid>")
    async def process_by_pid(pid: str) -> Response:
        number = parse_int("pid", pid)
        found = process(number)
        if found is None:
            raise ApiError(404, f"Unknown PID process {number}")
        return json_value(found)

    # -- configuration and arguments ------------------------------------------------

    @bp.route("/config")
    async def config_all() -> Response:
        return json_value(h.config.as_dict(redact=True))

    @bp.route("/config/<section>")
    async def config_section(section: str) -> Response:
        sections = h.config.as_dict(redact=True)
        if section not in sections:
            raise ApiError(400, f"Unknown configuration item {section}")
        return json_value(sections[section])

    @bp.route("/config/<section>/<item>")
    async def config_item(section: str, item: str) -> Response:
        sections = h.config.as_dict(redact=True)
        if section not in sections:
            raise ApiError(400, f"Unknown configuration item {section}")
        if item not in sections[section]:
            raise ApiError(404, f"Cannot get item {item} in config section {section} ({item!r})")
        return json_value(sections[section][item])

    @bp.route("/args")
    async def args_all() -> Response:
        return json_value(dict(h.args))

    @bp.route("/args/<item>")
    async def args_item(item: str) -> Response:
        if item not in h.args:
            raise ApiError(400, f"Unknown argument item {item}")
        return json_value(h.args[item])

    # -- plugins -------------------------------------------------------------------

    @bp.route("/<plugin>")
    async def plugin_stats(plugin: str) -> Response:
        plugin_info(plugin)
        return json_response(h.state.get_json(plugin))

    @bp.route("/<plugin>/top/<nb>")
    async def plugin_top(plugin: str, nb: str) -> Response:
        info = plugin_info(plugin)
        return json_value(query.top(info, h.state.get(plugin), parse_int("nb", nb)))

    @bp.route("/<plugin>/<item>")
    async def plugin_item(plugin: str, item: str) -> Response:
        info = plugin_info(plugin)
        return json_value(query.field_values(info, h.state.get(plugin), item))

    @bp.route("/<plugin>/<item>/description")
    async def plugin_item_description(plugin: str, item: str) -> Response:
        info = plugin_info(plugin)
        return json_value(query.field_meta(info, item, "description"))

    @bp.route("/<plugin>/<item>/unit")
    async def plugin_item_unit(plugin: str, item: str) -> Response:
        info = plugin_info(plugin)
        return json_value(query.field_meta(info, item, "unit"))

    @bp.route("/<plugin>/<item>/value/<anypath:value>")
    async def plugin_item_value(plugin: str, item: str, value: str) -> Response:
        info = plugin_info(plugin)
        return json_value(query.entries_with_value(info, h.state.get(plugin), item, value))

    @bp.route("/<plugin>/<item>/<key>")
    async def plugin_item_key(plugin: str, item: str, key: str) -> Response:
        info = plugin_info(plugin)
        return json_value(query.field_for_key(info, h.state.get(plugin), item, key))

    return bp
