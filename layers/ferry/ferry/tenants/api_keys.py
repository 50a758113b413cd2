"""API keys: who a caller is. Each key belongs to one tenant; only its SHA-256 hash is ever stored.

The HTTP API's authorizer asks `ApiKeyCache.tenant_for` on every request; the
operator's `python -m ferry_admin keys ...` creates, lists and revokes keys.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ferry.core.errors import Unauthorized

SEND_A_KEY = "Send an API key: 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
KEY_PREFIX = "fy_"


@dataclass(frozen=True)
class ApiKey:
    """What is kept of a key: never the key itself."""

    key_id: str  # public handle, to list and revoke by
    tenant: str
    name: str
    created_at: str
    revoked_at: str | None = None


class ApiKeyStore(Protocol):
    def tenant_for(self, api_key: str | None) -> str:
        """The tenant of a valid key; Unauthorized for a missing, unknown or revoked one."""

    def add(self, api_key: str, key: ApiKey) -> None: ...

    def list(self, tenant: str | None = None) -> list[ApiKey]: ...

    def revoke(self, key_id: str, now: str) -> ApiKey:
        """Marks the key revoked (kept for the record); KeyError when no key has that id."""


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh key and its public id: 256 random bits, recognisable by its prefix in a leaked log or repository."""
    return KEY_PREFIX + secrets.token_urlsafe(32), "key_" + secrets.token_hex(6)


def api_key_of(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: `Authorization: Bearer <key>`, else `x-api-key` (header names in lower case)."""
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


class ApiKeyCache:
    """Tenants of keys seen lately, so that most requests cost no read of the keys table.

    Only valid keys are kept, for `ttl_s` at most: a key created a moment ago works at
    once, and a revoked key stops working within `ttl_s`. Bounded: when full, it starts
    over rather than grow with the keys an attacker makes up (those are never kept anyway).
    """

    def __init__(self, store: ApiKeyStore, ttl_s: float, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        self._tenants: dict[str, tuple[str, float]] = {}  # key hash -> (tenant, expiry)
        self._lock = threading.Lock()

    def tenant_for(self, api_key: str | None) -> str:
        if not api_key:
            raise Unauthorized(SEND_A_KEY)
        digest, now = key_hash(api_key), self._clock()
        with self._lock:
            cached = self._tenants.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        tenant = self._store.tenant_for(api_key)
        with self._lock:
            if len(self._tenants) >= self._max_entries:
                self._tenants.clear()
            self._tenants[digest] = (tenant, now + self._ttl_s)
        return tenant
