"""A list's cursor: where the next page starts, as opaque text (base64url of compact JSON).

The job list (the jobs table's key) and the short lists the API reads whole (ferry_api/paging.py: an id)
write one; reading it back answers its fields, or a 400 naming `/query/cursor` for anything this API
did not give out. Each reader says what its fields must be (the tenant's, a job's key...).
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from ferry.core.errors import FieldError, MalformedRequest


def cursor_of(position: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def position_of(cursor: str, valid: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The fields `cursor_of` wrote; MalformedRequest unless they are readable and `valid`."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        position = None
    if not isinstance(position, dict) or not valid(position):
        raise MalformedRequest("The cursor is not one this API gave out.", [FieldError("/query/cursor", "unknown cursor")])
    return position
