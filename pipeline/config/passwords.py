"""Password hashes for ``api.password``: PBKDF2-HMAC-SHA256 from the standard library.

A hash is written ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` (salt and hash in
unpadded URL-safe base64), the format ``statbus hash-password`` prints.  Any other
value of ``api.password`` is a plain password, compared as written.  A value that starts
with ``pbkdf2_sha256$`` but does not parse is a configuration error, so a typo in a hash
is not silently taken for a plain password.

Verifying a hash costs ``iterations`` rounds of HMAC (about 0.1-0.5 s at the default):
callers run :func:`verify` in a worker thread and remember what it accepted
(``api/http_auth.py``).  This module imports neither trio nor the API.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SCHEME = "pbkdf2_sha256"
#: OWASP's figure for PBKDF2-HMAC-SHA256 (2023)
DEFAULT_ITERATIONS = 600_000
#: the range a configured hash may use: fewer is too cheap to guess, more would make
#: every new client's first request a denial of service
MIN_ITERATIONS = 1_000
MAX_ITERATIONS = 10_000_000
SALT_BYTES = 16
_DIGEST_BYTES = (16, 64)


class MalformedHash(ValueError):
    """A value that claims to be a hash (``pbkdf2_sha256$...``) and is not one; the
    message says why without quoting the value."""


@dataclass(frozen=True, slots=True)
class PasswordHash:
    iterations: int
    salt: bytes
    digest: bytes

    def verify(self, password: str) -> bool:
        """Whether ``password`` hashes to this digest (constant-time comparison)."""
        given = hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8", "surrogatepass"), self.salt, self.iterations
        )
        return hmac.compare_digest(given, self.digest)

    def __str__(self) -> str:
        return f"{SCHEME}${self.iterations}${_b64(self.salt)}${_b64(self.digest)}"

    def __repr__(self) -> str:  # never the digest, not even in a traceback
        return f"PasswordHash({SCHEME}, iterations={self.iterations})"


def looks_like_hash(value: str) -> bool:
    return value.startswith(SCHEME + "$")


def parse(value: str) -> PasswordHash | None:
    """The hash ``value`` holds, ``None`` for a plain password; :class:`MalformedHash`
    for a value that starts like a hash and is not a valid one."""
    if not looks_like_hash(value):
        return None
    parts = value.split("$")
    if len(parts) != 4:
        raise MalformedHash(
            f"a {SCHEME} hash has 4 fields separated by $ "
            f"({SCHEME}$<iterations>$<salt>$<hash>), this one has {len(parts)}"
        )
    _, iterations_text, salt_text, digest_text = parts
    if not iterations_text.isascii() or not iterations_text.isdigit():
        raise MalformedHash("the iteration count (2nd field) must be a whole number")
    iterations = int(iterations_text)
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise MalformedHash(
            f"the iteration count must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
        )
    salt = _unb64(salt_text, "salt (3rd field)")
    digest = _unb64(digest_text, "hash (4th field)")
    if not salt:
        raise MalformedHash("the salt (3rd field) is empty")
    if not _DIGEST_BYTES[0] <= len(digest) <= _DIGEST_BYTES[1]:
        raise MalformedHash(
            f"the hash (4th field) must be {_DIGEST_BYTES[0]}-{_DIGEST_BYTES[1]} bytes"
        )
    return PasswordHash(iterations, salt, digest)


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS) -> str:
    """A new salted hash of ``password``, in the format :func:`parse` reads."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac(
        "sha256", password.encode("utf-8", "surrogatepass"), salt, iterations
    )
    return str(PasswordHash(iterations, salt, digest))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str, what: str) -> bytes:
    if not text.isascii():
        raise MalformedHash(f"the {what} is not base64")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise MalformedHash(f"the {what} is not base64") from None
