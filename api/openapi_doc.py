"""The OpenAPI 3.1 document of every route statbus serves.

``build(config)`` makes it for one configuration: the server URL is ``api.url_prefix``
(relative), the ``plugin`` parameter lists the enabled plugins, and HTTP Basic is
required when ``api.password`` is set (optional otherwise). ``render`` gives the bytes
served at ``/api/4/openapi.json`` and checked in as ``docs/openapi.json`` (the default
configuration's document; a test fails when the two drift). Regenerate the file with::

    python -m api.openapi_doc > docs/openapi.json

Quart-free. The paths are written in ``api/openapi_paths.py``, the plugin schemas made in
``api/openapi_schemas.py``; ``docs/openapi.md`` tells how the document is kept true.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from api import openapi_schemas
from api.openapi_paths import (
    DOCS_PATH,
    OBJECT,
    OPENAPI_PATH,
    PLUGIN_STATS,
    Doc,
    glances_paths,
    json_body,
    own_paths,
    parameters,
    ref,
    stage_paths,
)
from pipeline import __version__
from pipeline.config import Config

__all__ = ["DOCS_PATH", "OPENAPI_PATH", "build", "main", "render"]

_DESCRIPTION = """\
statbus serves the Glances REST API v4 (`/api/4/...`) from an event-driven pipeline,
plus a live event stream, Prometheus metrics and a window into the pipeline itself.

* Bodies are compact JSON (`application/json`) unless said otherwise.
* Every error is a 4xx with a JSON body `{"detail": ...}`: 400 for an unknown or
  disabled plugin, 404 for an unknown field, key, series or path, 422 (FastAPI's shape)
  for a path parameter that is not an integer, 401 when credentials are required and
  missing or wrong, 429 with `Retry-After` after repeated failed logins from one
  address (`docs/security.md`), 405 (with `Allow`) for a wrong method, 413 for a `Content-Length`
  over 64 KiB (no route reads a body; any other is ignored).
* HTTP Basic authentication is required on every route but `/api/4/status` when
  `api.password` is set; without a password no route needs credentials.
* Every GET route also answers HEAD; a plain OPTIONS answers 204 with `Allow`, a CORS
  preflight 200 (`api.cors_origins`). A trailing slash is accepted.
* Bodies of at least `api.gzip_min_size` bytes are gzipped when the client accepts it.
* The plugin schemas (`components.schemas`) are made from the fields' descriptions and
  units that `/<plugin>/<field>/description` and `/unit` serve (`x-unit`)."""


def _error(
    description: str, schema: str = "Error", auth: bool = False, retry_after: str = ""
) -> Doc:
    """An error response; ``retry_after`` describes its ``Retry-After`` header, if any."""
    response = json_body(ref("schemas", schema), description)
    if auth:
        response["headers"] = {"WWW-Authenticate": {"schema": {"const": "Basic"}}}
    if retry_after:
        response["headers"] = {
            "Retry-After": {"schema": {"type": "string"}, "description": retry_after}
        }
    return response


def _components(plugins: Sequence[str]) -> Doc:
    schemas = openapi_schemas.plugin_schemas()
    view = {
        "type": "object",
        "properties": {
            "decoration": {
                "type": "string",
                "description": "DEFAULT, OK, CAREFUL, WARNING or CRITICAL (with `_LOG` when"
                " logged as an alert).",
            },
            "optional": {"type": "boolean"},
            "additional": {"type": "boolean"},
            "splittable": {"type": "boolean"},
            "hidden": {"type": "boolean"},
        },
    }
    point = {
        "type": "array",
        "prefixItems": [{"type": "string", "description": "ISO 8601 time"}, {}],
        "minItems": 2,
        "maxItems": 2,
    }
    own: dict[str, Doc] = {
        "All": openapi_schemas.all_schema(),
        "Status": {"type": "object", "properties": {"version": {"type": "string"}}},
        "View": view,
        "Views": {
            "type": "object",
            "description": (
                "Dict plugins `{field: View}`; list plugins `{key: {field: View}}`;"
                " quicklook also `list`, the bars a client shows."
            ),
            "additionalProperties": {
                "anyOf": [
                    ref("schemas", "View"),
                    {"type": "object", "additionalProperties": ref("schemas", "View")},
                    {"type": "array", "items": {"type": "string"}},
                ]
            },
        },
        "Series": {"type": "array", "items": point},
        "History": {"type": "object", "additionalProperties": ref("schemas", "Series")},
        "Pipeline": _pipeline_schema(),
        **_stream_schemas(),
        "Error": {
            "type": "object",
            "required": ["detail"],
            "properties": {"detail": {"type": "string"}},
        },
        "ValidationError": {
            "type": "object",
            "required": ["detail"],
            "properties": {
                "detail": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "type": {"const": "int_parsing"},
                            "loc": {"type": "array", "items": {"type": "string"}},
                            "msg": {"type": "string"},
                            "input": {"type": "string"},
                        },
                    },
                }
            },
        },
    }
    return {
        "schemas": {**own, **schemas},
        "parameters": parameters(plugins),
        "responses": {
            "BadRequest": _error("Unknown or disabled plugin (or config section, argument)."),
            "Unauthorized": _error("Credentials missing or wrong.", auth=True),
            "NotFound": _error("Unknown field, key, series or process."),
            "NotAnInteger": _error("A path parameter is not an integer.", "ValidationError"),
            "TooManyRequests": _error(
                "Too many failed logins from this address, too many new credentials"
                " waiting to be checked, or (the stream) too many open streams from this"
                " address: `Retry-After` says when to try again.",
                retry_after="Seconds.",
            ),
            "Unavailable": _error(
                "Too many open streams (`Retry-After` says when to try again), or a"
                " statbus serving without its pipeline.",
                retry_after="Seconds (with too many streams).",
            ),
        },
        "securitySchemes": {
            "basicAuth": {
                "type": "http",
                "scheme": "basic",
                "description": "Required when `api.password` is set (user `api.username`);"
                " otherwise no route needs it. `/api/4/status` is always open.",
            }
        },
    }


def _stream_schemas() -> dict[str, Doc]:
    """The ``data:`` of the stream's events (``text/event-stream`` bodies have no schema
    of their own in OpenAPI)."""
    ts = {"type": "number", "description": "UTC epoch seconds of the sample or transition."}
    plugin = {"type": "string"}
    return {
        "StreamStats": {
            "type": "object",
            "description": "`event: stats` data.",
            "properties": {"plugin": plugin, "ts": ts, "data": PLUGIN_STATS},
        },
        "StreamAlert": {
            "type": "object",
            "description": "`event: alert` data; the event's `id:` is `<boot>-<n>`.",
            "properties": {
                "transition": {"enum": ["opened", "escalated", "closed", "cleared"]},
                "ts": ts,
                "event": ref("schemas", "alert_entry"),
            },
        },
        "StreamViews": {
            "type": "object",
            "description": "`event: views` data.",
            "properties": {"plugin": plugin, "ts": ts, "views": ref("schemas", "Views")},
        },
    }


def _pipeline_schema() -> Doc:
    counts = {"type": "integer"}
    when = {"type": ["number", "null"]}
    return {
        "type": "object",
        "properties": {
            "version": {"type": "string"},
            "uptime": {"type": "number", "description": "Seconds since statbus started."},
            "samplers": {
                "type": "object",
                "description": "Per sampler family.",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "plugins": {"type": "array", "items": {"type": "string"}},
                        "interval": {"type": "number"},
                        "timeout": {"type": "number"},
                        "state": {"enum": ["starting", "ok", "failing"]},
                        "solo": {"type": "boolean"},
                        "runs": counts,
                        "failures": counts,
                        "consecutive_failures": counts,
                        "last_run": when,
                        "last_duration": when,
                        "last_error": {"type": ["string", "null"]},
                        "backoff": {
                            "type": ["number", "null"],
                            "description": "Seconds until the next attempt after its"
                            " latest failure (null while ok).",
                        },
                    },
                },
            },
            "thread_calls": counts,
            "subscribers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "topic": {"type": "string"},
                        "policy": {"type": "string"},
                        "maxsize": counts,
                        "delivered": counts,
                        "dropped": counts,
                        "depth": counts,
                    },
                },
            },
            "sinks": {
                "type": "object",
                "description": "Per sink (`mqtt`, `webhooks`): its own counters.",
                "additionalProperties": OBJECT,
            },
        },
    }


def build(config: Config, plugins: Sequence[str] | None = None) -> Doc:
    """The document for ``config``; ``plugins`` are the plugins served (by default the
    ones ``config`` enables)."""
    if config.api.password:
        security: list[Doc] = [{"basicAuth": []}]
    else:  # optional: a client may send credentials, none are checked
        security = [{}, {"basicAuth": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "statbus",
            "version": __version__,
            "summary": "A host monitor that speaks the Glances REST API v4.",
            "description": _DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": config.api.url_prefix or "/"}],
        "security": security,
        "tags": [
            {"name": "glances", "description": "Plugin stats and their metadata."},
            {"name": "limits", "description": "Thresholds, options and views."},
            {"name": "history", "description": "History series."},
            {"name": "alerts", "description": "The alert events list."},
            {"name": "processes", "description": "Processes and extended stats."},
            {"name": "config", "description": "Configuration and arguments."},
            {"name": "statbus", "description": "statbus's own routes (not Glances')."},
        ],
        "paths": {**glances_paths(), **stage_paths(), **own_paths()},
        "components": _components(config.enabled_plugins() if plugins is None else plugins),
    }


def render(doc: Doc) -> bytes:
    """The document as the bytes served and checked in (indented, one final newline)."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def main() -> None:
    """``python -m api.openapi_doc``: the default configuration's document on stdout."""
    sys.stdout.buffer.write(render(build(Config())))


if __name__ == "__main__":
    main()
