"""Basic auth: hashed passwords checked once and remembered, failed logins slowed per
client address, and the start-up warning about an open API.

Over real HTTP (hypercorn on loopback, the fast path in front of Quart, one shared
:class:`HttpRules`), with clients on several loopback source addresses (127.0.0.x) so
that one address can be slowed while another is not.  The back-off's clock is injected
so that no assertion depends on how fast this machine is.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from api import ApiHandles, create_app
from api import http_auth as auth_module
from api.http import HttpRules
from api.main import _warn_about_access
from pipeline.bus import Bus
from pipeline.config import load, passwords
from pipeline.events import StatEvent
from pipeline.stages.state import StateStage

USER, PASSWORD = "admin", "correct horse"
FAST, QUART = "/api/4/all", "/api/4/config"  # one route each side of the fast path


def basic(user: str = USER, password: str = PASSWORD, *, spaces: int = 1) -> str:
    """A Basic header; ``spaces`` > 1 writes the same credentials as a new header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return "Basic" + " " * spaces + token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rules_for(password: str, clock: Callable[[], float] | None = None, **api: Any) -> HttpRules:
    overrides = {"api.username": USER, "api.password": password}
    overrides.update({f"api.{k}": v for k, v in api.items()})
    return HttpRules(load(overrides=overrides).api, clock=clock or Clock())


@asynccontextmanager
async def served(rules: HttpRules) -> AsyncIterator[str]:
    """The app (fast path in front of Quart, sharing ``rules``) on a free loopback
    port; yields its base URL."""
    config = load(overrides={"api.username": USER, "api.password": "unused"})
    state = StateStage(Bus(), config.enabled_plugins())
    state.update(StatEvent("cpu", 1.0, 1, {"total": 12.5}))
    app = create_app(ApiHandles(config, state), rules=rules)
    hc = HypercornConfig()
    hc.bind = ["127.0.0.1:0"]
    hc.accesslog = None
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            lambda task_status: hypercorn_serve(
                app,  # type: ignore[arg-type]
                hc,
                shutdown_trigger=stop.wait,
                task_status=task_status,
            )
        )
        try:
            yield urls[0]
        finally:
            stop.set()


def client(base: str, source: str = "127.0.0.1") -> httpx.AsyncClient:
    """An HTTP client whose connections come from loopback address ``source``."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=30)


async def get(c: httpx.AsyncClient, path: str, header: str | None) -> httpx.Response:
    return await c.get(path, headers={} if header is None else {"Authorization": header})


# -- hashed passwords -------------------------------------------------------------------


async def test_a_hashed_password_is_checked_once_then_remembered() -> None:
    rules = rules_for(passwords.hash_password(PASSWORD, iterations=1000), max_login_failures=100)
    assert rules.auth.hashed
    with trio.fail_after(30):
        async with served(rules) as base, client(base) as c:
            for _ in range(5):
                assert (await get(c, FAST, basic())).status_code == 200
                assert (await get(c, QUART, basic())).status_code == 200
            assert rules.auth.checks == 1  # one PBKDF2 for ten requests, on both paths
            for wrong in (
                basic(password="wrong"),
                basic(user="root"),  # the right password for another user
                basic(password=PASSWORD + "x"),
                "Basic !!!",
                "Bearer " + PASSWORD,
            ):
                for path in (FAST, QUART):
                    resp = await get(c, path, wrong)
                    assert resp.status_code == 401, (wrong, path)
                    assert resp.json() == {"detail": "Incorrect authentication"}
                    assert resp.headers["WWW-Authenticate"] == "Basic"
            assert (await get(c, FAST, basic())).status_code == 200


async def test_concurrent_first_requests_share_one_check() -> None:
    rules = rules_for(passwords.hash_password(PASSWORD, iterations=200_000))
    statuses: list[int] = []
    with trio.fail_after(30):
        async with served(rules) as base, client(base) as c:

            async def one(path: str) -> None:
                statuses.append((await get(c, path, basic())).status_code)

            async with trio.open_nursery() as nursery:
                for i in range(8):
                    nursery.start_soon(one, FAST if i % 2 else QUART)
    assert statuses == [200] * 8
    assert rules.auth.checks == 1


async def test_a_slow_hash_check_stalls_no_other_request() -> None:
    """While a new header's PBKDF2 runs (millions of iterations), remembered credentials
    are answered: the check is in a worker thread, not on the event loop."""
    rules = rules_for(passwords.hash_password(PASSWORD, iterations=3_000_000))
    with trio.fail_after(60):
        async with served(rules) as base, client(base) as ha, client(base, "127.0.0.3") as guess:
            assert (await get(ha, FAST, basic())).status_code == 200  # remembered from now
            wrong: list[int] = []

            async def guess_once() -> None:
                wrong.append((await get(guess, FAST, basic(password="guess"))).status_code)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(guess_once)
                while not rules.auth._inflight:  # noqa: ASYNC110 -- the guess's check started
                    await trio.sleep(0.005)
                for _ in range(3):
                    assert (await get(ha, FAST, basic())).status_code == 200
                    assert (await get(ha, QUART, basic())).status_code == 200
                # answered while the guess's check was still running
                assert rules.auth._inflight and not wrong
            assert wrong == [401]


async def test_too_many_waiting_checks_are_answered_429_at_once() -> None:
    auth = rules_for(passwords.hash_password(PASSWORD, iterations=1000)).auth
    verdicts: list[auth_module.Verdict] = []

    async def one(i: int) -> None:
        verdicts.append(await auth.check(basic(password=f"guess{i}"), f"10.0.0.{i}"))

    extra = 4
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for i in range(auth_module.MAX_PENDING + extra):
                nursery.start_soon(one, i)
    busy = [v for v in verdicts if v.status == 429]
    assert len(busy) == extra and all(v.retry_after == 1 for v in busy)
    assert sum(v.status == 401 for v in verdicts) == auth_module.MAX_PENDING


async def test_guesses_sent_together_from_one_address_are_checked_one_at_a_time() -> None:
    """Else all of them would be checked before the first failure counted, and the
    back-off would allow that many guesses a round."""
    auth = rules_for(passwords.hash_password(PASSWORD, iterations=50_000)).auth
    verdicts: list[auth_module.Verdict] = []

    async def one(i: int) -> None:
        verdicts.append(await auth.check(basic(password=f"guess{i}"), "10.0.0.1"))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for i in range(auth_module.MAX_PENDING):
                nursery.start_soon(one, i)
    assert sorted(v.status for v in verdicts) == [401] + [429] * (auth_module.MAX_PENDING - 1)
    assert auth.checks == 1


async def test_addresses_with_failures_leave_half_of_the_checks_to_new_clients() -> None:
    auth = rules_for(
        passwords.hash_password(PASSWORD, iterations=200_000), max_login_failures=100
    ).auth
    suspects = [f"10.0.1.{i}" for i in range(auth_module.MAX_PENDING)]
    with trio.fail_after(60):
        for address in suspects:  # one failure each, no wait yet
            assert (await auth.check(basic(password="g"), address)).status == 401
        verdicts: list[int] = []

        async def one(address: str, password: str) -> None:
            verdicts.append((await auth.check(basic(password=password), address)).status)

        async with trio.open_nursery() as nursery:
            for address in suspects:  # each its own guess: no check is shared
                nursery.start_soon(one, address, f"again-{address}")
            while len(auth._inflight) < auth_module.MAX_PENDING // 2:  # noqa: ASYNC110
                await trio.sleep(0.005)
            # the suspects have taken all they may; a new client still gets its check
            nursery.start_soon(one, "10.0.2.1", PASSWORD)
    assert verdicts.count(429) == auth_module.MAX_PENDING // 2
    assert verdicts.count(401) == auth_module.MAX_PENDING // 2
    assert verdicts.count(200) == 1


def test_an_ipv6_client_counts_as_its_64() -> None:
    key = auth_module.client_key
    assert key("2001:db8:1:2:aaaa::1") == key("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
    assert key("2001:db8:1:3::1") != key("2001:db8:1:2::1")
    assert key("::ffff:192.0.2.7") == "192.0.2.7" == key("192.0.2.7")
    assert key("fe80::1%eth0") == "fe80::/64"
    assert key("") == "" and key("not-an-address") == "not-an-address"


async def test_addresses_of_one_ipv6_64_share_their_back_off() -> None:
    auth = rules_for(PASSWORD, max_login_failures=2).auth
    assert (await auth.check(basic(password="g"), "2001:db8::1")).status == 401
    assert (await auth.check(basic(password="g"), "2001:db8::2")).status == 401
    assert (await auth.check(basic(password="g"), "2001:db8::3")).status == 429
    assert (await auth.check(basic(password="g"), "2001:db8:0:1::1")).status == 401


# -- back-off ---------------------------------------------------------------------------


async def test_failed_logins_back_off_per_address_on_both_paths() -> None:
    clock = Clock()
    rules = rules_for(PASSWORD, clock, max_login_failures=3, login_backoff_max=4)
    with trio.fail_after(30):
        async with (
            served(rules) as base,
            client(base) as ha,  # a poller on the guesser's address (NAT, proxy)
            client(base) as guesser,
            client(base, "127.0.0.2") as other,
        ):
            assert (await get(ha, FAST, basic())).status_code == 200
            for path in (FAST, QUART, FAST):  # both paths count the same failures
                assert (await get(guesser, path, basic(password="guess"))).status_code == 401

            async def waits(seconds: int) -> None:
                for path in (FAST, QUART):
                    for header in (basic(password="guess"), basic(spaces=2)):
                        resp = await get(guesser, path, header)
                        assert resp.status_code == 429, (path, header)
                        assert resp.headers["Retry-After"] == str(seconds)
                        assert "try again later" in resp.json()["detail"]

            await waits(1)  # even right credentials not seen before: nothing is checked
            assert (await get(guesser, FAST, None)).status_code == 401  # asked to log in
            for path in (FAST, QUART):  # remembered credentials still pass
                assert (await get(ha, path, basic())).status_code == 200
            # another address is not slowed, and has failures of its own
            assert (await get(other, QUART, basic(password="x"))).status_code == 401
            assert (await get(other, FAST, basic(spaces=3))).status_code == 200
            # each further failure doubles the wait, up to login_backoff_max
            for wait_before, wait_after in ((1, 2), (2, 4), (4, 4)):
                clock.now += wait_before
                assert (await get(guesser, QUART, basic(password="g"))).status_code == 401
                await waits(wait_after)
            clock.now += 4
            # a success forgets the address: two failures later, still not slowed
            assert (await get(guesser, FAST, basic(spaces=4))).status_code == 200
            for _ in range(2):
                assert (await get(guesser, FAST, basic(password="g"))).status_code == 401
            # remembered credentials pass but forget nothing (else a poller sharing the
            # guesser's address would keep resetting its count)
            assert (await get(guesser, FAST, basic())).status_code == 200
            assert (await get(guesser, FAST, basic(password="g"))).status_code == 401
            assert (await get(guesser, FAST, basic(password="g"))).status_code == 429


async def test_a_missing_header_is_not_a_failure() -> None:
    rules = rules_for(PASSWORD, max_login_failures=1)
    with trio.fail_after(30):
        async with served(rules) as base, client(base) as c:
            for path in (FAST, QUART) * 5:
                resp = await get(c, path, None)
                assert resp.status_code == 401
                assert resp.json() == {"detail": "Not authenticated"}
    assert rules.auth.failures == 0 and rules.auth.tracked == 0


async def test_failures_are_forgotten_after_a_quiet_period() -> None:
    clock = Clock()
    auth = rules_for(PASSWORD, clock, max_login_failures=2).auth
    for _ in range(2):
        assert (await auth.check(basic(password="g"), "10.1.1.1")).status == 401
    assert (await auth.check(basic(password="g"), "10.1.1.1")).status == 429
    clock.now += 1 + auth_module.QUIET_RESET + 1  # its 1 s wait, then the quiet period
    assert (await auth.check(basic(password="g"), "10.1.1.1")).status == 401
    assert (await auth.check(basic(password="g"), "10.1.1.1")).status == 401  # 1 of 2 again


async def test_a_wait_longer_than_the_quiet_period_does_not_reset_the_count() -> None:
    clock = Clock()
    auth = rules_for(PASSWORD, clock, max_login_failures=1, login_backoff_max=3600).auth
    waits = []
    for _ in range(14):
        assert (await auth.check(basic(password="g"), "10.1.1.1")).status == 401
        verdict = await auth.check(basic(password="g"), "10.1.1.1")
        assert verdict.status == 429 and verdict.retry_after is not None
        waits.append(verdict.retry_after)
        clock.now += verdict.retry_after  # the next guess comes as soon as it may
    assert waits == [2**i for i in range(12)] + [3600, 3600]


async def test_tracked_addresses_are_bounded() -> None:
    clock = Clock()
    auth = rules_for(PASSWORD, clock, max_login_failures=1).auth
    flood = auth_module.MAX_CLIENTS + 500
    for i in range(flood):
        assert (
            await auth.check(basic(password="g"), f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}")
        ).status == 401
    assert auth.tracked == auth_module.MAX_CLIENTS
    # the oldest were dropped, the newest are still slowed
    assert (await auth.check(basic(password="g"), "10.0.0.0")).status == 401
    last = flood - 1
    last_address = f"10.{last >> 16}.{last >> 8 & 255}.{last & 255}"
    assert (await auth.check(basic(password="g"), last_address)).status == 429


async def test_failed_logins_are_logged_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    auth = rules_for(PASSWORD, clock, max_login_failures=1).auth
    caplog.set_level(logging.WARNING, logger="api.http_auth")
    for i in range(300):
        await auth.check(basic(password=f"g{i}"), f"10.2.{i >> 8}.{i & 255}")
    assert len(caplog.records) == 1
    assert "1 failed login(s) from 1 address(es)" in caplog.records[0].getMessage()
    clock.now += auth_module.LOG_INTERVAL
    await auth.check(basic(password="g"), "10.2.0.0")
    assert len(caplog.records) == 2
    message = caplog.records[1].getMessage()
    assert "300 failed login(s) from 300 address(es)" in message
    assert "latest from 10.2.0.0 (2 in a row, now waits" in message
    assert PASSWORD not in caplog.text and "g1" not in caplog.text
    assert all(r.levelno == logging.WARNING for r in caplog.records)


async def test_a_failure_without_back_off_is_only_a_note(caplog: pytest.LogCaptureFixture) -> None:
    auth = rules_for(PASSWORD, Clock(), max_login_failures=2).auth
    caplog.set_level(logging.INFO, logger="api.http_auth")
    await auth.check(basic(password="g"), "10.3.0.1")
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    await auth.check(basic(password="g"), "10.3.0.1")  # now it waits: a warning at once
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.WARNING]
    assert "now waits 1 s" in caplog.records[1].getMessage()


# -- the start-up warning ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("bind", "password", "warned"),
    [
        ("0.0.0.0", "", True),
        ("::", "", True),
        ("", "", True),  # every address
        ("statbus.example.org", "", True),  # a host name: it may resolve to anything
        ("192.168.1.20", "", True),
        ("127.0.0.1", "", False),
        ("127.0.0.2", "", False),
        ("::1", "", False),
        ("localhost", "", False),
        ("0.0.0.0", "pw", False),
        ("::", "pw", False),
    ],
)
def test_an_open_api_beyond_loopback_is_warned_about(
    caplog: pytest.LogCaptureFixture, bind: str, password: str, warned: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="api.main")
    _warn_about_access(load(overrides={"api.bind": bind, "api.password": password}))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if warned:
        assert len(warnings) == 1
        assert "without a password" in warnings[0] and "api.password" in warnings[0]
    else:
        assert warnings == []


def test_a_plain_password_is_recommended_to_be_hashed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="api.main")
    _warn_about_access(load(overrides={"api.password": "plain"}))
    assert "statbus hash-password" in caplog.text
    caplog.clear()
    _warn_about_access(
        load(overrides={"api.password": passwords.hash_password("x", iterations=1000)})
    )
    assert "hash-password" not in caplog.text
