"""The one way tests wait for something that another task, thread or process does.

``until`` (and ``sync_until``, its twin for plain code) polls a condition with a
generous bound: the bound is a safety net for a broken test (it fails naming what it
waited for), never a window the test hopes to hit.  Nothing asserted depends on how
fast the machine is: a loaded machine only waits longer.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import trio

#: how long ``until`` waits by default before failing (real seconds)
WITHIN = 30.0
#: how often it looks
INTERVAL = 0.02


async def until(
    check: Callable[[], Any], within: float = WITHIN, interval: float = INTERVAL
) -> Any:
    """Wait for ``check()`` (or what it returns, awaited) to be true; return it.

    Fails with an ``AssertionError`` naming the check after ``within`` seconds."""
    with trio.move_on_after(within):
        while True:
            got = check()
            if inspect.isawaitable(got):
                got = await got
            if got:
                return got
            await trio.sleep(interval)
    raise AssertionError(f"not true within {within:g} s: {_describe(check)}")


def _describe(check: Callable[[], Any]) -> str:
    try:
        return inspect.getsource(check).strip()
    except (OSError, TypeError):
        return repr(check)


def sync_until(check: Callable[[], Any], within: float = WITHIN, interval: float = 0.1) -> Any:
    """``until`` for tests that drive a statbus process from plain (non-trio) code."""
    deadline = time.monotonic() + within
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {within:g} s: {_describe(check)}")
        time.sleep(interval)
