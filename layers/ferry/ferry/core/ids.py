"""Job ids: ULIDs, so that ids sort by creation time (the jobs table lists newest first by id)."""
from __future__ import annotations

import hashlib
import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# What new_ulid and ulid_of make: 26 characters of Crockford's base 32.
ULID = re.compile(f"[{_CROCKFORD}]{{26}}")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def new_ulid(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return _encode(ms, 10) + _encode(int.from_bytes(os.urandom(10), "big"), 16)


def ulid_of(ms: int, seed: str) -> str:
    """The same ULID for the same millisecond and seed: an id that a retried step computes again, not anew."""
    return _encode(ms, 10) + _encode(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big"), 16)


def ulid_floor(ms: int) -> str:
    """The smallest ULID of that millisecond: a bound for created_after/created_before ranges.

    A time before 1970 is the epoch: ULIDs start there (a negative one would encode as the largest).
    """
    return _encode(max(ms, 0), 10) + "0" * 16


def ulid_ceiling(ms: int) -> str:
    return _encode(max(ms, 0), 10) + "Z" * 16
