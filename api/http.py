"""Cross-cutting HTTP behaviour: Basic auth, CORS, gzip.

* Auth: when ``api.password`` is set every route but ``/status`` needs HTTP Basic with
  ``api.username``/``api.password`` (401 bodies as the reference).
* CORS: ``api.cors_origins`` (``*`` by default); preflights answer 200 with max-age 600.
* gzip: bodies of at least ``api.gzip_min_size`` bytes, when the client accepts gzip.
  Compressed bodies are cached by content, so ``/all`` is compressed once per sample.

The rules live in one :class:`HttpRules` that the Quart hooks (``api/http_hooks.py``)
and the fast path (``api/fastpath.py``) share, so both answer alike and share one gzip
cache.  This module does not import Quart: the fast path runs without it.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hmac
from collections import OrderedDict

from pipeline.config import ApiConfig

#: the one route open without credentials (health checks), matched by endpoint, not path
STATUS_ENDPOINT = "glances.status"
#: compressed bodies kept: the latest of the few routes a client polls (Home Assistant:
#: /all); every sample makes a new body, so older entries are only ever misses, and one
#: /all with its gzip is ~0.3 MB (32 entries held ~3.5 MB)
_GZIP_CACHE_SIZE = 4


def check_basic(header: str, username: str, password: str) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return False
    try:
        user, sep, given = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    # Compare both in constant time, and always both, so timing says nothing.
    user_ok = hmac.compare_digest(user.encode(), username.encode())
    pass_ok = hmac.compare_digest(given.encode(), password.encode())
    return bool(sep) and user_ok and pass_ok


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

    def __init__(self, api: ApiConfig) -> None:
        self._origins = frozenset(api.cors_origins)
        self._any_origin = "*" in self._origins
        self.username = api.username
        self.password = api.password
        self.gzip_min_size = api.gzip_min_size
        self._gzip = GzipCache()

    @property
    def needs_auth(self) -> bool:
        return bool(self.password)

    def allowed_origin(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for a request's ``Origin``, if any."""
        if self._any_origin:
            return "*"
        return origin if origin in self._origins else None

    def credentials_ok(self, header: str) -> bool:
        return check_basic(header, self.username, self.password)

    def gzipped(self, body: bytes) -> bytes | None:
        """The compressed body when it is large enough to be worth it, else ``None``."""
        if len(body) < self.gzip_min_size:
            return None
        return self._gzip.compress(body)
