"""HTTP Basic credentials: checked once, remembered, and failed logins slowed per address.

* **Remembered.**  ``api.password`` may be a PBKDF2 hash (``pipeline/config/passwords.py``),
  whose check costs a fraction of a second: far too much for Home Assistant's poll of
  ``/all`` on every refresh.  A header that passed is remembered in a small LRU
  (:data:`KNOWN_SIZE` entries) under a keyed hash of the whole ``Authorization`` value
  (HMAC-SHA256 with a random key made when the process starts), so a later request with
  the same header costs one HMAC; the password itself is never stored.
* **Off the event loop.**  A hash is checked in a worker thread (one at a time; hashlib
  releases the GIL), so requests with known credentials, and everyone else, are served
  meanwhile.  Concurrent requests with the same new header share one check; one address
  has at most one check under way (guesses sent together would all be checked before
  the first failure counted); at most :data:`MAX_PENDING` checks wait, half of that for
  addresses with failures on record; further ones are answered 429 at once.
* **Back-off.**  After ``api.max_login_failures`` wrong credentials from one client
  address, that address waits 1 s, then 2, 4, ... up to ``api.login_backoff_max``
  seconds after each further failure; a request from it during the wait is answered 429
  with ``Retry-After`` without checking anything.  A success, or :data:`QUIET_RESET`
  seconds without a failure once its wait is over, forgets the address.  An IPv6 client
  counts as its /64 network (one host may pick any address in it).  Remembered
  (known-good) credentials pass even from a waiting address: a poller behind the same
  NAT or reverse proxy as a guesser keeps working.  At most :data:`MAX_CLIENTS`
  addresses are tracked (least recently failed dropped first).  Failures are logged as
  a summary at most once per :data:`LOG_INTERVAL` seconds: at INFO, or at WARNING once
  an address is made to wait.
* A request without an ``Authorization`` header is a 401 and not a failure (a browser
  asks first without one).

The comparisons (user name and password, plain or hashed) are in constant time: of
keyed digests, so not even the lengths show.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from pipeline.backoff import exponential
from pipeline.config import ApiConfig, passwords

log = logging.getLogger(__name__)

#: remembered good ``Authorization`` values (keyed hashes); a few clients, a few users
KNOWN_SIZE = 64
#: client addresses whose failures are tracked
MAX_CLIENTS = 4096
#: first wait once an address has used up its free failures, seconds; doubles each time
BACKOFF_INITIAL = 1.0
#: seconds without a failure after which an address's failures are forgotten
QUIET_RESET = 900.0
#: hash checks waiting for the worker thread at most; more are answered 429
MAX_PENDING = 16
#: seconds between two log lines about failed logins
LOG_INTERVAL = 60.0
#: distinct addresses counted for that line at most
_LOG_ADDRESSES = 1000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to answer: ``ok``, else the status (401 or 429), detail and ``Retry-After``."""

    ok: bool
    status: int = 200
    detail: str = ""
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        if self.status == 429:
            return {"Retry-After": str(self.retry_after or 1)}
        return {"WWW-Authenticate": "Basic"}


OK = Verdict(True)
MISSING = Verdict(False, 401, "Not authenticated")
WRONG = Verdict(False, 401, "Incorrect authentication")


def split_basic(header: str) -> tuple[str, str] | None:
    """The user name and password of a ``Basic`` header, ``None`` if it is not one."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        user, sep, given = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, given) if sep else None


def check_basic(header: str, username: str, password: str) -> bool:
    """Plain-password check of a Basic header (both parts compared in constant time)."""
    return _matches(header, username, lambda given: _same(given, password))


#: keys the digests :func:`_same` compares; made at start, never leaves the process
_COMPARE_KEY = secrets.token_bytes(32)


def _same(a: str, b: str) -> bool:
    # Digests of both, so that the comparison takes the same time whatever the lengths
    # (compare_digest on inputs of different lengths returns at once: the time would
    # tell the configured password's length).
    return hmac.compare_digest(
        hmac.digest(_COMPARE_KEY, _utf8(a), "sha256"),
        hmac.digest(_COMPARE_KEY, _utf8(b), "sha256"),
    )


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _matches(header: str, username: str, password_ok: Callable[[str], bool]) -> bool:
    parts = split_basic(header)
    user, given = parts if parts is not None else ("", "")
    # Both compared, always, so the time taken says nothing about which was wrong.
    user_ok = _same(user, username)
    pass_ok = password_ok(given)
    return parts is not None and user_ok and pass_ok


@dataclass(slots=True)
class _Pending:
    """A hash check under way, shared by the requests carrying the same header."""

    done: trio.Event = field(default_factory=trio.Event)
    ok: bool | None = None  # a cancelled check: its waiters are told to try again


@dataclass(slots=True)
class _Client:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0


class Authenticator:
    """Checks ``Authorization`` headers against ``api.username``/``api.password``."""

    def __init__(self, api: ApiConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._username = api.username
        self._plain = api.password
        self._hash = passwords.parse(api.password)  # validated at config load
        self._free = api.max_login_failures
        self._backoff_max = api.login_backoff_max
        self._clock = clock
        self._key = secrets.token_bytes(32)  # this process's; never leaves it
        self._known: OrderedDict[bytes, None] = OrderedDict()
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._inflight: dict[bytes, _Pending] = {}
        #: addresses with a hash check under way (at most MAX_PENDING)
        self._checking: set[str] = set()
        self._limiter = trio.CapacityLimiter(1)
        #: hash or password checks made (a remembered header costs none)
        self.checks = 0
        #: failed logins and 429s answered, since start
        self.failures = 0
        self.throttled = 0
        self._unlogged = 0
        self._unlogged_addresses: set[str] = set()
        self._logged_at: dict[int, float] = {}

    @property
    def hashed(self) -> bool:
        return self._hash is not None

    @property
    def tracked(self) -> int:
        """Client addresses whose failures are being counted."""
        return len(self._clients)

    def counters(self) -> dict[str, int]:
        """For ``/metrics``: failed logins, 429s, password checks, addresses tracked."""
        return {
            "failures": self.failures,
            "throttled": self.throttled,
            "checks": self.checks,
            "tracked": self.tracked,
        }

    def _fingerprint(self, header: str) -> bytes:
        return hmac.digest(self._key, _utf8(header), "sha256")

    async def check(self, header: str | None, client: str) -> Verdict:
        """The verdict on a request with ``header`` from address ``client``."""
        if header is None:
            return MISSING
        fingerprint = self._fingerprint(header)
        if fingerprint in self._known:
            self._known.move_to_end(fingerprint)
            return OK
        client = client_key(client)
        now = self._clock()
        waiting = self._wait_of(client, now)
        if waiting is not None:
            self.throttled += 1
            return waiting
        ok = await self._verify(fingerprint, header, client)
        if ok is None:
            self.throttled += 1
            return Verdict(False, 429, "Too many logins being checked; try again", 1)
        if ok:
            self._remember(fingerprint)
            self._clients.pop(client, None)
            return OK
        self._failed(client, self._clock())
        return WRONG

    # -- checking -------------------------------------------------------------------

    async def _verify(self, fingerprint: bytes, header: str, client: str) -> bool | None:
        """Whether the header's credentials are right; ``None`` when the check cannot be
        made now: the address has another one under way, or too many are waiting."""
        if self._hash is None:  # checked at once: no other request runs meanwhile
            self.checks += 1
            return check_basic(header, self._username, self._plain)
        pending = self._inflight.get(fingerprint)
        if pending is not None:  # the same header is being checked: share its result
            await pending.done.wait()
            return pending.ok
        # One check at a time per address: guesses sent together would otherwise all be
        # checked before the first failure counts.  An address with failures on record
        # may take only half of the waiting places, so guessers leave room for new
        # clients' first logins.
        places = MAX_PENDING // 2 if client in self._clients else MAX_PENDING
        if client in self._checking or len(self._inflight) >= places:
            return None
        pending = self._inflight[fingerprint] = _Pending()
        self._checking.add(client)
        try:
            pending.ok = await trio.to_thread.run_sync(
                self._check_hashed, header, abandon_on_cancel=True, limiter=self._limiter
            )
            return pending.ok
        finally:
            del self._inflight[fingerprint]
            self._checking.discard(client)
            pending.done.set()

    def _check_hashed(self, header: str) -> bool:
        self.checks += 1
        hashed = self._hash
        assert hashed is not None
        return _matches(header, self._username, hashed.verify)

    def _remember(self, fingerprint: bytes) -> None:
        self._known[fingerprint] = None
        self._known.move_to_end(fingerprint)
        while len(self._known) > KNOWN_SIZE:
            self._known.popitem(last=False)

    # -- back-off -------------------------------------------------------------------

    def _wait_of(self, client: str, now: float) -> Verdict | None:
        state = self._clients.get(client)
        if state is None or now >= state.blocked_until:
            return None
        return Verdict(
            False,
            429,
            "Too many failed logins from this address; try again later",
            max(1, math.ceil(state.blocked_until - now)),
        )

    def _failed(self, client: str, now: float) -> None:
        self.failures += 1
        state = self._clients.get(client)
        # quiet since the last failure, or since the wait it earned ended (a wait longer
        # than QUIET_RESET must not reset the count)
        if state is None or now - max(state.last_failure, state.blocked_until) > QUIET_RESET:
            state = _Client()
        state.failures += 1
        state.last_failure = now
        excess = state.failures - self._free
        if excess >= 0:
            delay = exponential(excess + 1, BACKOFF_INITIAL, self._backoff_max)
            state.blocked_until = now + delay
        self._clients[client] = state
        self._clients.move_to_end(client)
        while len(self._clients) > MAX_CLIENTS:
            self._clients.popitem(last=False)
        self._log_failure(client, state, now)

    def _log_failure(self, client: str, state: _Client, now: float) -> None:
        self._unlogged += 1
        if len(self._unlogged_addresses) < _LOG_ADDRESSES:
            self._unlogged_addresses.add(client)
        waits = state.blocked_until - now
        # a wrong password now and then is a note; an address made to wait, a warning
        level = logging.WARNING if waits > 0 else logging.INFO
        if now - self._logged_at.get(level, -math.inf) < LOG_INTERVAL:
            return
        log.log(
            level,
            "api: %d failed login(s) from %s address(es) since the last such message;"
            " latest from %s (%d in a row%s)",
            self._unlogged,
            f"{len(self._unlogged_addresses)}"
            + ("+" if len(self._unlogged_addresses) >= _LOG_ADDRESSES else ""),
            client or "<unknown>",
            state.failures,
            f", now waits {waits:.0f} s" if waits > 0 else "",
        )
        self._logged_at[level] = now
        self._unlogged = 0
        self._unlogged_addresses.clear()


def client_key(address: str) -> str:
    """The key failures are counted under for a client ``address``: an IPv6 address's
    /64 network (one host commonly has a whole /64 to pick addresses from), an IPv4
    address as itself (also when written IPv4-mapped, ``::ffff:a.b.c.d``)."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


def client_address(scope_client: object) -> str:
    """The address of an ASGI scope's ``client`` (``(host, port)`` or ``None``)."""
    if isinstance(scope_client, tuple | list) and scope_client:
        return str(scope_client[0])
    return ""
