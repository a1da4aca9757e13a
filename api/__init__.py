"""statbus HTTP API: a quart-trio app serving the Glances REST API v4."""

from __future__ import annotations

from api.app import ApiHandles, create_app

__all__ = ["ApiHandles", "create_app"]
