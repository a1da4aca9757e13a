"""Placeholder: being written (issue 8)."""

from __future__ import annotations

from quart import Blueprint

from api.handles import ApiHandles


def stream_blueprint(handles: ApiHandles) -> Blueprint:
    return Blueprint("stream", __name__)
