"""The Quart side of ``api/http.py``: hooks applying the shared :class:`HttpRules` (auth,
CORS preflights, CORS headers, gzip) to every request Quart answers."""

from __future__ import annotations

from quart import Quart, Response, request
from quart.wrappers.response import DataBody

from api.errors import error_response
from api.http import AUTH_SCOPE_KEY, STATUS_ENDPOINT, HttpRules, Verdict
from api.http_auth import client_address

_CORS_METHODS = "GET, HEAD, POST, OPTIONS"


def install(app: Quart, rules: HttpRules) -> None:
    allowed_origin = rules.allowed_origin

    @app.before_request
    async def _preflight_and_auth() -> Response | None:
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            resp = Response(b"", status=200)
            allow = allowed_origin(request.headers.get("Origin"))
            if allow is None:
                return error_response(400, "Disallowed CORS origin")
            resp.headers["Access-Control-Allow-Origin"] = allow
            resp.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
            resp.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "*"
            )
            resp.headers["Access-Control-Max-Age"] = "600"
            resp.headers["Vary"] = "Origin"
            return resp
        if request.method == "OPTIONS" and request.url_rule is not None:
            # not a preflight: say what the route allows, with no body
            methods = ", ".join(sorted(request.url_rule.methods or ()))
            resp = Response(b"", status=204, headers={"Allow": methods})
            del resp.headers["Content-Type"]  # no body, no type
            return resp
        if not rules.needs_auth or request.endpoint == STATUS_ENDPOINT or request.url_rule is None:
            return None  # no auth, the open route, or no route at all (404 as the reference)
        verdict = request.scope.get(AUTH_SCOPE_KEY)  # the fast path's, when it checked
        if not isinstance(verdict, Verdict):
            verdict = await rules.authenticate(
                request.headers.get("Authorization"), client_address(request.scope.get("client"))
            )
        if not verdict.ok:
            return error_response(verdict.status, verdict.detail, verdict.headers())
        return None

    @app.after_request
    async def _cors_and_gzip(resp: Response) -> Response:
        allow = allowed_origin(request.headers.get("Origin"))
        if allow is not None:
            resp.headers["Access-Control-Allow-Origin"] = allow
            resp.headers.add("Vary", "Origin")
        if (
            "gzip" in request.headers.get("Accept-Encoding", "")
            and "Content-Encoding" not in resp.headers
            and isinstance(resp.response, DataBody)
        ):
            packed = rules.gzipped(await resp.get_data(as_text=False))
            if packed is not None:
                resp.set_data(packed)
                resp.headers["Content-Encoding"] = "gzip"
                resp.headers.add("Vary", "Accept-Encoding")
        return resp
