"""Placeholder: being written (issue 8)."""

from __future__ import annotations

from quart import Blueprint

from api.handles import ApiHandles


def openapi_blueprint(handles: ApiHandles) -> Blueprint:
    return Blueprint("openapi", __name__)
