"""statbus HTTP API: the Glances REST API v4.

``api.root.create_root_app`` is what hypercorn serves: the fast path, and the quart-trio
app (``api.app.create_app``) loaded on the first request the fast path does not answer.
Importing this package imports nothing else (the composition root, ``api.main``, is
imported by every statbus, with or without the API): ``ApiHandles`` and
``create_app`` are looked up on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import create_app
    from api.handles import ApiHandles

__all__ = ["ApiHandles", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from api.app import create_app

        return create_app
    if name == "ApiHandles":
        from api.handles import ApiHandles

        return ApiHandles
    raise AttributeError(f"module 'api' has no attribute {name!r}")
