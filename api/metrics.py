"""Placeholder: being written (issue 8)."""

from __future__ import annotations

from quart import Blueprint

from api.handles import ApiHandles


def metrics_blueprint(handles: ApiHandles) -> Blueprint:
    return Blueprint("metrics", __name__)
