"""POSTs that create a saved thing (a segment, a destination, a profile) honour Idempotency-Key as jobs do."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ferry.core.ids import new_ulid
from ferry.destinations.catalogue import without_secrets
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


def destination_created_once(event: Any, what: str, given: dict[str, Any], create: Callable[[str, dict[str, Any], str], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """created_once for a destination (or a profile, which is one): its request compared without its secrets,
    of which no digest is kept with the key (a weak password could be guessed from it)."""
    return created_once(event, what, without_secrets(given), lambda tenant, new_id: create(tenant, given, new_id), runtime.destinations.get)
