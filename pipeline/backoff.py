"""Exponential backoff, the one rule every retry in statbus follows.

A sampler that fails, a broker that refuses, a webhook receiver that is down, a disk
that is full, a client that keeps guessing passwords: each waits
``initial * 2 ** (attempt - 1)`` before its next attempt, capped at ``maximum``, and
sinks that talk to other machines spread their retries with :func:`jittered` so that
many statbus instances do not come back in step.
"""

from __future__ import annotations

import random

#: past this many doublings the wait is the cap anyway (and 2**n stays a small number)
_MAX_DOUBLINGS = 64


def exponential(attempt: int, initial: float, maximum: float) -> float:
    """The wait after failed attempt number ``attempt`` (1 for the first failure)."""
    doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
    return min(maximum, initial * 2.0**doublings)


def jittered(delay: float, rng: random.Random | None = None, spread: float = 0.25) -> float:
    """``delay`` scaled by a random factor in ``[1 - spread, 1 + spread]``."""
    return delay * (rng or random).uniform(1.0 - spread, 1.0 + spread)
