"""The one backoff rule every retry follows."""

from __future__ import annotations

import math
import random

from pipeline.backoff import exponential, jittered


def test_doubles_from_initial_up_to_the_cap() -> None:
    assert [exponential(n, 0.5, 4.0) for n in range(1, 8)] == [0.5, 1, 2, 4, 4, 4, 4]
    assert exponential(0, 1.0, 60.0) == 1.0  # no failure yet: the initial wait


def test_a_huge_attempt_count_is_the_cap_not_an_overflow() -> None:
    assert exponential(10**9, 1.0, 300.0) == 300.0
    assert exponential(10**9, 1.0, math.inf) == 2.0**64


def test_jitter_stays_within_its_spread() -> None:
    rng = random.Random(7)
    waits = [jittered(2.0, rng) for _ in range(1000)]
    assert 1.5 <= min(waits) < 1.6 and 2.4 < max(waits) <= 2.5
    assert jittered(2.0, rng, spread=0.0) == 2.0
