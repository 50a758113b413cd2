"""Idempotency-Key: a POST that creates something, sent again with the same key and body, answers what the first made.

The key is claimed before anything is created, for the id the request will create; the
others with that key then see it in progress (409), done (the same thing again), or
claimed with another body (422). A claim left by a request that crashed is taken over,
and what that request did create, if anything, is the answer.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from ferry.core.errors import NotFound
from ferry.jobs.ports import IdempotencyStore

Made = TypeVar("Made")


def request_hash(*parts: Any) -> str:
    """A fingerprint of what a request asks for: the same key with another fingerprint is refused."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr, ensure_ascii=False).encode()).hexdigest()


def create_once(
    store: IdempotencyStore,
    tenant: str,
    key: str | None,
    fingerprint: str,
    new_id: str,
    create: Callable[[str], Made],
    read: Callable[[str], Made],
) -> tuple[Made, bool]:
    """What `create(new_id)` makes, or what the first request with `key` made; and whether this call made it."""
    if key is None:
        return create(new_id), True
    claim = store.claim(tenant, key, fingerprint, new_id)
    if claim.job_id is not None:
        return read(claim.job_id), False
    if claim.abandoned_job_id is not None:
        try:
            made = read(claim.abandoned_job_id)
        except NotFound:
            pass  # it crashed before creating anything: this request creates it
        else:
            store.complete(tenant, key, claim.abandoned_job_id)
            return made, False
    try:
        made = create(new_id)
    except Exception:
        store.release(tenant, key)
        raise
    store.complete(tenant, key, new_id)
    return made, True
