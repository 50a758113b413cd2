"""POSTs that create a saved thing (a segment, a destination, a profile) honour Idempotency-Key as jobs do."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ferry.core.ids import new_ulid
from ferry.jobs.idempotent import create_once, request_hash
from ferry_api import request
from ferry_api.runtime import runtime

Made = TypeVar("Made")


def created_once(event: Any, what: str, body: Any, create: Callable[[str, str], Made], read: Callable[[str, str], Made]) -> tuple[Made, bool]:
    """`create(tenant, new_id)`, or what the first request with this Idempotency-Key and body made; and whether this one made it."""
    tenant = request.tenant_of(event)
    return create_once(
        runtime.idempotency,
        tenant,
        request.idempotency_key(event.headers),
        request_hash(what, body),
        new_ulid(int(runtime.clock.now().timestamp() * 1000)),
        lambda new_id: create(tenant, new_id),
        lambda made_id: read(tenant, made_id),
    )
