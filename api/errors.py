"""Every error the API returns is a 4xx JSON body ``{"detail": ...}``."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from quart import Quart, Response
from werkzeug.exceptions import HTTPException

from pipeline.plugins import PLUGINS, PluginInfo

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by handlers; becomes ``status`` with ``{"detail": detail}``."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(body, status=status, content_type="application/json", headers=headers)


def json_value(value: Any) -> Response:
    """``value`` as compact JSON (keys that are not strings become strings)."""
    return json_response(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def unknown_plugin(plugin: str, enabled: Sequence[str]) -> ApiError:
    """The reference's answer for a plugin that is not enabled (the list as Python repr)."""
    return ApiError(400, f"Unknown plugin {plugin} (available plugins: {list(enabled)!r})")


def plugin_gate(enabled: Sequence[str]) -> Callable[[str], PluginInfo]:
    """``gate(plugin)``: the plugin's info if it is enabled, else the reference's 400."""
    served = list(enabled)
    served_set = frozenset(served)

    def gate(plugin: str) -> PluginInfo:
        if plugin not in served_set:
            raise unknown_plugin(plugin, served)
        return PLUGINS[plugin]

    return gate


def error_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    return json_response(orjson.dumps({"detail": detail}), status, headers)


def int_parsing_error(name: str, value: str) -> ApiError:
    """The 422 body the reference (FastAPI) gives for a non-integer path parameter."""
    return ApiError(
        422,
        [
            {
                "type": "int_parsing",
                "loc": ["path", name],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": value,
            }
        ],
    )


_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


def parse_int(name: str, value: str) -> int:
    """An ASCII decimal integer (at most 19 digits), or a 422 in the reference's shape."""
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        raise int_parsing_error(name, value)
    return int(text)


def install(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.detail, exc.headers)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 400
        headers = {}
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            headers["Allow"] = ", ".join(valid_methods)
        return error_response(status, exc.name, headers)

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        # A bug: keep the body JSON and the traceback in the log, not in the response.
        log.exception("unhandled error while serving a request")
        return error_response(500, "Internal error (logged by the server)")
