"""The paths of the OpenAPI document: every route statbus serves, written out.

``tests/api/test_openapi.py`` checks them against Quart's URL map both ways (paths and
methods), so a route added without documentation, or documentation left for a route
that is gone, fails. ``operationId`` is the route's Quart endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.plugins import PLUGINS

Doc = dict[str, Any]

#: where the app serves the document and the page, under ``api.url_prefix``
OPENAPI_PATH = "/api/4/openapi.json"
DOCS_PATH = "/docs"
API = "/api/4"


def ref(kind: str, name: str) -> Doc:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_body(schema: Doc, description: str) -> Doc:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def op(
    operation_id: str,
    tag: str,
    summary: str,
    ok: Doc,
    *,
    description: str = "",
    params: tuple[str | Doc, ...] = (),
    errors: tuple[int, ...] = (),
    open_route: bool = False,
) -> Doc:
    """One operation; ``params`` are names in ``components.parameters`` or inline objects,
    ``errors`` the statuses it can answer beside 200 (401 and 429 are added unless
    ``open_route``)."""
    op: Doc = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = [ref("parameters", p) if isinstance(p, str) else p for p in params]
    responses: Doc = {"200": ok}
    names = {
        400: "BadRequest",
        401: "Unauthorized",
        404: "NotFound",
        422: "NotAnInteger",
        429: "TooManyRequests",
        503: "Unavailable",
    }
    for status in sorted({*errors, *(() if open_route else (401, 429))}):
        responses[str(status)] = ref("responses", names[status])
    op["responses"] = responses
    if open_route:
        op["security"] = []
    return op


def param(name: str, where: str, schema: Doc, description: str) -> Doc:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


ANY: Doc = {}
OBJECT: Doc = {"type": "object"}
PLUGIN_STATS: Doc = {
    "description": "The plugin's stats: see the schema named after the plugin.",
    "anyOf": [ref("schemas", name) for name in PLUGINS],
}
_ENTRY_OR_EMPTY: Doc = {
    "anyOf": [ref("schemas", "processlist_entry"), {"type": "object", "maxProperties": 0}]
}


def glances_paths() -> dict[str, Doc]:
    p, item, key, nb = "plugin", "item", "key", "nb"
    return {
        f"{API}/status": {
            "get": op(
                "glances.status",
                "glances",
                "statbus's version; open without credentials (health checks)",
                json_body(ref("schemas", "Status"), "The version."),
                open_route=True,
            )
        },
        f"{API}/pluginslist": {
            "get": op(
                "glances.pluginslist",
                "glances",
                "The enabled plugins",
                json_body({"type": "array", "items": {"type": "string"}}, "Plugin names."),
            )
        },
        f"{API}/all": {
            "get": op(
                "glances.all_stats",
                "glances",
                "Every enabled plugin's stats",
                json_body(ref("schemas", "All"), "`{plugin: stats}`."),
                description="A plugin not sampled yet, or whose source is absent, shows its"
                ' empty value (`[]`, `{}` or `""`; `help` is `null`).',
            )
        },
        f"{API}/processes/extended": {
            "get": op(
                "glances.processes_extended",
                "processes",
                "The process selected for extended stats",
                json_body(_ENTRY_OR_EMPTY, "Its `processlist` entry, or `{}`."),
                errors=(404,),
            )
        },
        f"{API}/processes/extended/disable": {
            "post": op(
                "glances.processes_extended_disable",
                "processes",
                "Deselect the process of the extended stats",
                json_body({"const": True}, "`true`."),
            )
        },
        f"{API}/processes/extended/{{pid}}": {
            "post": op(
                "glances.processes_extended_enable",
                "processes",
                "Select one process for extended stats",
                json_body({"const": True}, "`true`."),
                description="`cpu_affinity`, `ionice`, `num_ctx_switches`, `num_fds`,"
                " `memory_swap`, `tcp`, `udp` and `extended_stats: true` are added to its"
                " `processlist` entry from the next sample on.",
                params=("pid",),
                errors=(404, 422),
            )
        },
        f"{API}/processes/{{pid}}": {
            "get": op(
                "glances.process_by_pid",
                "processes",
                "One process from the latest `processlist` sample",
                json_body(ref("schemas", "processlist_entry"), "The process's entry."),
                params=("pid",),
                errors=(404, 422),
            )
        },
        f"{API}/config": {
            "get": op(
                "glances.config_all",
                "config",
                "The effective configuration",
                json_body(OBJECT, "`{section: {key: value}}`, passwords as `********`."),
            )
        },
        f"{API}/config/{{section}}": {
            "get": op(
                "glances.config_section",
                "config",
                "One configuration section",
                json_body(OBJECT, "`{key: value}`."),
                params=("section",),
                errors=(400,),
            )
        },
        f"{API}/config/{{section}}/{{item}}": {
            "get": op(
                "glances.config_item",
                "config",
                "One configuration value",
                json_body(ANY, "The value."),
                params=("section", param("item", "path", {"type": "string"}, "A key.")),
                errors=(400, 404),
            )
        },
        f"{API}/args": {
            "get": op(
                "glances.args_all",
                "config",
                "The command-line settings in effect",
                json_body(OBJECT, "`{name: value}` (secrets redacted)."),
            )
        },
        f"{API}/args/{{item}}": {
            "get": op(
                "glances.args_item",
                "config",
                "One command-line setting",
                json_body(ANY, "The value."),
                params=(param("item", "path", {"type": "string"}, "A setting's name."),),
                errors=(400,),
            )
        },
        f"{API}/{{plugin}}": {
            "get": op(
                "glances.plugin_stats",
                "glances",
                "One plugin's stats",
                json_body(PLUGIN_STATS, "A dict, a list of dicts, a string or null."),
                params=(p,),
                errors=(400,),
            )
        },
        f"{API}/{{plugin}}/top/{{nb}}": {
            "get": op(
                "glances.plugin_top",
                "glances",
                "The first entries of a list plugin",
                json_body(ANY, "The first `nb` entries; a dict plugin answers whole."),
                params=(p, nb),
                errors=(400, 422),
            )
        },
        f"{API}/{{plugin}}/{{item}}": {
            "get": op(
                "glances.plugin_item",
                "glances",
                "One field",
                json_body(OBJECT, "`{item: value}`; list plugins `{item: [value per entry]}`."),
                params=(p, item),
                errors=(400, 404),
            )
        },
        f"{API}/{{plugin}}/{{item}}/description": {
            "get": op(
                "glances.plugin_item_description",
                "glances",
                "A field's description",
                json_body({"type": "string"}, "The description."),
                params=(p, item),
                errors=(400, 404),
            )
        },
        f"{API}/{{plugin}}/{{item}}/unit": {
            "get": op(
                "glances.plugin_item_unit",
                "glances",
                "A field's unit",
                json_body({"type": "string"}, "The unit."),
                params=(p, item),
                errors=(400, 404),
            )
        },
        f"{API}/{{plugin}}/{{item}}/value/{{value}}": {
            "get": op(
                "glances.plugin_item_value",
                "glances",
                "The entries of a list plugin whose field equals a value",
                json_body(
                    {"type": "object", "additionalProperties": {"type": "array"}},
                    "`{value: [entries]}`; no match is `{value: []}`.",
                ),
                description="Numbers match numerically (`/processlist/pid/value/42`).",
                params=(p, item, "value"),
                errors=(400, 404),
            )
        },
        f"{API}/{{plugin}}/{{item}}/{{key}}": {
            "get": op(
                "glances.plugin_item_key",
                "glances",
                "One field of the entry whose key field equals `key`",
                json_body(OBJECT, "`{item: value}`."),
                description="For example `/network/bytes_recv_rate_per_sec/eth0`.",
                params=(p, item, key),
                errors=(400, 404),
            )
        },
    }


def stage_paths() -> dict[str, Doc]:
    p, nb = "plugin", "nb"
    entry_key = param(
        "item",
        "path",
        {"type": "string"},
        "Dict plugins: a field; list plugins: an entry's key value (`/network/eth0/views`).",
    )
    field = param("item", "path", {"type": "string"}, "A field name.")
    cleared = json_body({"type": "object", "maxProperties": 0}, "`{}` once the stage applied it.")
    return {
        f"{API}/events/clear/warning": {
            "post": op(
                "alerts.clear_warning",
                "alerts",
                "Remove the finished events that are not CRITICAL",
                cleared,
            )
        },
        f"{API}/events/clear/all": {
            "post": op(
                "alerts.clear_all",
                "alerts",
                "Remove all finished events (ongoing ones stay)",
                cleared,
            )
        },
        f"{API}/all/limits": {
            "get": op(
                "limits.all_limits",
                "limits",
                "Every enabled plugin's thresholds and options",
                json_body(
                    {"type": "object", "additionalProperties": OBJECT}, "`{plugin: limits}`."
                ),
            )
        },
        f"{API}/all/views": {
            "get": op(
                "limits.all_views",
                "limits",
                "Every enabled plugin's latest views",
                json_body(
                    {"type": "object", "additionalProperties": ref("schemas", "Views")},
                    "`{plugin: views}`.",
                ),
            )
        },
        f"{API}/{{plugin}}/limits": {
            "get": op(
                "limits.plugin_limits",
                "limits",
                "A plugin's thresholds and options (`<plugin>_<option>`)",
                json_body(OBJECT, "The limits."),
                params=(p,),
                errors=(400,),
            )
        },
        f"{API}/{{plugin}}/views": {
            "get": op(
                "limits.plugin_views",
                "limits",
                "A plugin's latest views (a decoration per field)",
                json_body(ref("schemas", "Views"), "The views; `{}` before the first sample."),
                params=(p,),
                errors=(400,),
            )
        },
        f"{API}/{{plugin}}/{{item}}/views": {
            "get": op(
                "limits.item_views",
                "limits",
                "A field's view (dict plugins) or an entry's views (list plugins)",
                json_body(ANY, "A view, or `{field: view}`."),
                params=(p, entry_key),
                errors=(400, 404),
            )
        },
        f"{API}/{{plugin}}/{{item}}/{{key}}/views": {
            "get": op(
                "limits.item_key_views",
                "limits",
                "The view of field `item` of the entry `key` (list plugins)",
                json_body(ref("schemas", "View"), "The view."),
                params=(p, field, "key"),
                errors=(400, 404),
            )
        },
        f"{API}/{{plugin}}/history": {
            "get": op(
                "history.plugin_history",
                "history",
                "Every series a plugin keeps",
                json_body(ref("schemas", "History"), "`{series: points}`; `{}` without history."),
                params=(p,),
                errors=(400,),
            )
        },
        f"{API}/{{plugin}}/history/{{nb}}": {
            "get": op(
                "history.plugin_history_nb",
                "history",
                "Every series a plugin keeps, the last points only",
                json_body(ref("schemas", "History"), "`{series: points}`."),
                params=(p, nb),
                errors=(400, 422),
            )
        },
        f"{API}/{{plugin}}/{{item}}/history": {
            "get": op(
                "history.item_history",
                "history",
                "One series",
                json_body(ref("schemas", "Series"), "A bare list of `[iso_ts, value]`."),
                params=(p, field),
                errors=(400, 404),
            )
        },
        f"{API}/{{plugin}}/{{item}}/history/{{nb}}": {
            "get": op(
                "history.item_history_nb",
                "history",
                "One series, the last points only",
                json_body(ref("schemas", "Series"), "A bare list of `[iso_ts, value]`."),
                params=(p, field, nb),
                errors=(400, 404, 422),
            )
        },
        f"{API}/pipeline": {
            "get": op(
                "pipeline.pipeline",
                "statbus",
                "statbus itself: samplers, bus subscribers, sinks, uptime",
                json_body(ref("schemas", "Pipeline"), "The pipeline's state."),
                description="Not a Glances route.",
            )
        },
    }


_STREAM_DESCRIPTION = """\
Server-Sent Events relayed from the bus (`docs/stream.md`). Each event's `data:` is one
line of JSON:

* `event: stats`: `{"plugin", "ts", "data"}` (schema `StreamStats`), one plugin's latest
  sample in its `/api/4/<plugin>` shape; the selected plugins' current state first;
* `event: alert` with an `id:`: `{"transition", "ts", "event"}` (schema `StreamAlert`),
  one transition of the events list (`opened`, `escalated`, `closed`, `cleared`);
* `event: views` (only when `topics` names it): `{"plugin", "ts", "views"}`
  (schema `StreamViews`);
* a comment (`: heartbeat`) every 15 s; `retry:` first.

Latest-wins per plugin: a slow reader skips stale samples (drops counted per subscriber
in `/api/4/pipeline`) instead of making statbus hold them. A reconnecting client sends
the last alert id in `Last-Event-ID` and first gets the transitions after it that are
still in memory. `plugins` and `topics` take a comma-separated list, or the parameter
repeated. At most 16 streams are open at once, 4 from one client address: one more is
a 503 (a 429 for one address's) with `Retry-After`; a client that takes none of its
stream for 30 s is disconnected."""

_METRICS_DESCRIPTION = """\
Prometheus text exposition format (OpenMetrics when the `Accept` header asks for
`application/openmetrics-text`): every numeric field as a gauge
`statbus_<plugin>_<field>` with the entry's key as a label (`interface_name="eth0"`,
`mnt_point="/"`), the cumulative `_gauge` fields as `_total` counters, the alert state
per type, and the pipeline's own metrics (events published, drops per subscriber,
sampler durations and failures, sink connection state, webhook deliveries)."""


def own_paths() -> dict[str, Doc]:
    csv = {"type": "string", "pattern": "^[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*$"}
    text = {"type": "string"}
    return {
        f"{API}/stream": {
            "get": op(
                "stream.stream",
                "statbus",
                "Live stream of samples and alert transitions (Server-Sent Events)",
                {
                    "description": "An endless event stream.",
                    "content": {"text/event-stream": {"schema": text}},
                },
                description=_STREAM_DESCRIPTION,
                params=(
                    param(
                        "plugins",
                        "query",
                        csv,
                        "Only these plugins (`cpu,mem`); every enabled plugin by default."
                        " An unknown or disabled plugin is a 400.",
                    ),
                    param(
                        "topics",
                        "query",
                        csv,
                        "Only these topics, of `stats`, `alerts` and `views`; `stats,alerts`"
                        " by default. An unknown topic is a 400.",
                    ),
                    param(
                        "Last-Event-ID",
                        "header",
                        text,
                        "Resume the alert transitions after this id (EventSource sends it"
                        " when it reconnects).",
                    ),
                ),
                errors=(400, 503),
            )
        },
        "/metrics": {
            "get": op(
                "metrics.metrics",
                "statbus",
                "Prometheus metrics",
                {
                    "description": "The metrics, in the format the `Accept` header asks for.",
                    "content": {
                        "text/plain; version=0.0.4; charset=utf-8": {"schema": text},
                        "application/openmetrics-text; version=1.0.0; charset=utf-8": {
                            "schema": text
                        },
                    },
                },
                description=_METRICS_DESCRIPTION,
            )
        },
        OPENAPI_PATH: {
            "get": op(
                "openapi.openapi_json",
                "statbus",
                "This OpenAPI 3.1 document",
                json_body(OBJECT, "The document, for the configuration in effect."),
            )
        },
        DOCS_PATH: {
            "get": op(
                "openapi.docs",
                "statbus",
                "A page that renders this document (no external assets)",
                {"description": "An HTML page.", "content": {"text/html": {"schema": text}}},
            )
        },
    }


def parameters(plugins: Sequence[str]) -> Doc:
    int_schema = {"type": "integer"}
    return {
        "plugin": param(
            "plugin",
            "path",
            {"type": "string", "enum": list(plugins)},
            "An enabled plugin (`/api/4/pluginslist`); any other answers 400.",
        ),
        "item": param("item", "path", {"type": "string"}, "A field name (`bytes_recv`)."),
        "key": param("key", "path", {"type": "string"}, "A list plugin's key value (`eth0`, `/`)."),
        "value": param(
            "value",
            "path",
            {"type": "string"},
            "The value to match; it may contain `/` (`/fs/mnt_point/value//`).",
        ),
        "nb": param(
            "nb",
            "path",
            int_schema,
            "How many: 0 all, positive the last (history) or first (top) `nb`, negative"
            " all but `-nb` (a Python slice). Not an integer: 422.",
        ),
        "pid": param("pid", "path", int_schema, "A process id. Not an integer: 422."),
        "section": param(
            "section", "path", {"type": "string"}, "A configuration section (`cpu`, `api`)."
        ),
    }
