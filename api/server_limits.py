"""hypercorn's connection limits for the API server (timeouts, header and body sizes).

Kept apart from the composition root so the limits and their tests live with the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hypercorn.config import Config as HypercornConfig

#: seconds an idle keep-alive connection is kept open
KEEP_ALIVE_TIMEOUT = 30


def apply_limits(hc: HypercornConfig) -> None:
    """Set the limits every statbus API server runs with on ``hc``."""
    hc.keep_alive_timeout = KEEP_ALIVE_TIMEOUT
