"""HTTP basic auth: bcrypt checks, a cache of successes, constant-time compare.

``BasicAuth.allows`` answers for one request's ``Authorization`` header, given the users of the
web configuration's ``basic_auth_users``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Mapping

import bcrypt


class BasicAuth:
    """HTTP basic auth against bcrypt hashes, as Prometheus' exporters check it.

    bcrypt is slow on purpose (about 0.1 s at cost 10) and Prometheus sends the same
    credentials on every scrape, so a success is remembered: as an HMAC of user and password
    under a key made at start, never the password itself, at most ``cache_size`` of them. A
    failure is never remembered. An unknown user costs a bcrypt check too (against the costliest
    configured hash, then refused), and names are compared in constant time, so timing does not
    tell which users exist. One bcrypt check runs at a time: a flood of wrong passwords takes
    one core, not all of them. ``check(password, hash)`` is ``bcrypt.checkpw``.
    """

    def __init__(
        self,
        users: Mapping[str, bytes],
        check: Callable[[bytes, bytes], bool] = bcrypt.checkpw,
        cache_size: int = 64,
    ) -> None:
        if not users:
            raise ValueError("BasicAuth needs at least one user")
        self._key = secrets.token_bytes(32)
        self._users = [(self._mac(name.encode()), hashed) for name, hashed in users.items()]
        self._decoy = max(users.values(), key=lambda hashed: hashed[4:6])
        self._check = check
        self._cache_size = cache_size
        self._known: dict[bytes, None] = {}  # insertion-ordered: the oldest is dropped first
        self._lock = threading.Lock()
        self._bcrypt_lock = threading.Lock()

    def _mac(self, data: bytes) -> bytes:
        return hmac.digest(self._key, data, hashlib.sha256)

    def remembers(self, authorization: str | None) -> bool:
        """Whether the header carries credentials that passed a check before (no bcrypt: an
        HMAC and a lookup, so it may run where blocking is not allowed)."""
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        with self._lock:
            return self._remembered(*credentials) in self._known

    def _remembered(self, user: bytes, password: bytes) -> bytes:
        return self._mac(len(user).to_bytes(8, "big") + user + password)

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value names a user and their password."""
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        remembered = self._remembered(user, password)
        with self._lock:
            if remembered in self._known:
                return True
        name = self._mac(user)
        hashed = None
        for candidate, candidate_hash in self._users:  # no early exit: timing names no user
            if hmac.compare_digest(candidate, name):
                hashed = candidate_hash
        if len(password) > 72:  # bcrypt reads 72 bytes: 4.x would ignore the rest, 5.x raises
            return False  # the same for every user, so it tells nothing
        with self._bcrypt_lock:
            try:
                ok = self._check(password, hashed or self._decoy)
            except ValueError:  # a hash bcrypt cannot read
                ok = False
        if not ok or hashed is None:
            return False
        with self._lock:
            self._known[remembered] = None
            while len(self._known) > self._cache_size:
                del self._known[next(iter(self._known))]
        return True


def _basic_credentials(authorization: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) of a ``Basic`` header value (RFC 7617); None if it is not one."""
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if colon else None
