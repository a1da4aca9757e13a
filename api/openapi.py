"""``GET /api/4/openapi.json`` (the OpenAPI 3.1 document) and ``GET /docs`` (a page that
renders it, with no external asset).

Registered under ``api.url_prefix`` (not ``/api/4``: ``/docs`` sits beside the API). The
document is built for the configuration in effect (server URL, enabled plugins, whether
Basic auth is required) on the first request and its bytes kept: it cannot change while
statbus runs. The builder is ``api/openapi_doc.py``; ``docs/openapi.md`` says more.
"""

from __future__ import annotations

from quart import Blueprint, Response

from api import openapi_doc, openapi_page
from api.errors import json_response
from api.handles import ApiHandles


def openapi_blueprint(handles: ApiHandles) -> Blueprint:
    bp = Blueprint("openapi", __name__)
    prefix = handles.config.api.url_prefix
    plugins = list(handles.state.plugins)
    built: list[bytes] = []  # the document's bytes, once asked for
    page = openapi_page.render_page(prefix + openapi_doc.OPENAPI_PATH)

    def document() -> bytes:
        if not built:
            built.append(openapi_doc.render(openapi_doc.build(handles.config, plugins)))
        return built[0]

    @bp.route(openapi_doc.OPENAPI_PATH)
    async def openapi_json() -> Response:
        return json_response(document())

    @bp.route(openapi_doc.DOCS_PATH)
    async def docs() -> Response:
        return Response(
            page,
            content_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": openapi_page.CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
            },
        )

    return bp
