"""Cross-cutting HTTP behaviour: Basic auth, CORS, gzip.

* Auth: when ``api.password`` is set every route but ``/status`` needs HTTP Basic with
  ``api.username``/``api.password`` (401 bodies as the reference); the password may be
  a hash, good credentials are remembered and failed logins slowed per client address
  (``api/http_auth.py``, 429 with ``Retry-After``).
* CORS: ``api.cors_origins`` (``*`` by default); preflights answer 200 with max-age 600.
* gzip: bodies of at least ``api.gzip_min_size`` bytes, when the client accepts gzip.
  Compressed bodies are cached by content, so ``/all`` is compressed once per sample.

The rules live in one :class:`HttpRules` that the Quart hooks (``api/http_hooks.py``)
and the fast path (``api/fastpath.py``) share, so both answer alike and share one gzip
cache.  This module does not import Quart: the fast path runs without it.
"""

from __future__ import annotations

import gzip
import time
from collections import OrderedDict
from collections.abc import Callable

from api.http_auth import Authenticator, Verdict
from pipeline.config import ApiConfig

__all__ = ["AUTH_SCOPE_KEY", "STATUS_ENDPOINT", "GzipCache", "HttpRules", "Verdict"]

#: the one route open without credentials (health checks), matched by endpoint, not path
STATUS_ENDPOINT = "glances.status"
#: the ASGI scope key under which the fast path hands Quart the :class:`Verdict` it got
#: for a request it does not answer, so a request's credentials are checked (and a
#: failure counted) once
AUTH_SCOPE_KEY = "statbus.auth"
#: compressed bodies kept: the latest of the few routes a client polls (Home Assistant:
#: /all); every sample makes a new body, so older entries are only ever misses, and one
#: /all with its gzip is ~0.3 MB (32 entries held ~3.5 MB)
_GZIP_CACHE_SIZE = 4


class GzipCache:
    """Last compressed bodies by content; a hit costs one comparison, not a compression."""

    def __init__(self) -> None:
        self._entries: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()

    def compress(self, body: bytes) -> bytes:
        key = hash(body)
        hit = self._entries.get(key)
        if hit is not None and hit[0] == body:
            self._entries.move_to_end(key)
            return hit[1]
        packed = gzip.compress(body, compresslevel=5, mtime=0)
        self._entries[key] = (body, packed)
        if len(self._entries) > _GZIP_CACHE_SIZE:
            self._entries.popitem(last=False)
        return packed


class HttpRules:
    """CORS, Basic auth and gzip as ``api`` configures them, for both request paths."""

    def __init__(self, api: ApiConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._origins = frozenset(api.cors_origins)
        self._any_origin = "*" in self._origins
        self.needs_auth = bool(api.password)
        self.auth = Authenticator(api, clock=clock)
        self.gzip_min_size = api.gzip_min_size
        self._gzip = GzipCache()

    def allowed_origin(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for a request's ``Origin``, if any."""
        if self._any_origin:
            return "*"
        return origin if origin in self._origins else None

    async def authenticate(self, header: str | None, client: str) -> Verdict:
        """The verdict on credentials ``header`` from address ``client``: one HMAC for
        remembered ones, else checked (a hash in a worker thread) and remembered;
        failures counted and slowed."""
        return await self.auth.check(header, client)

    def gzipped(self, body: bytes) -> bytes | None:
        """The compressed body when it is large enough to be worth it, else ``None``."""
        if len(body) < self.gzip_min_size:
            return None
        return self._gzip.compress(body)
