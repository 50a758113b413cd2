"""Who a caller is: the key in a request's headers, and the authorizer's cache of checked keys."""
from __future__ import annotations

import pytest

from ferry.core.errors import Unauthorized
from ferry.tenants.api_keys import ApiKey, ApiKeyCache, api_key_of, key_hash, new_api_key


class Keys:
    """An in-memory ApiKeyStore that counts its reads."""

    def __init__(self) -> None:
        self.tenants: dict[str, str] = {}
        self.reads = 0

    def tenant_for(self, api_key: str | None) -> str:
        self.reads += 1
        if api_key not in self.tenants:
            raise Unauthorized("The API key is not valid.")
        return self.tenants[api_key]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"authorization": "Bearer abc"}, "abc"),
        ({"authorization": "bearer  abc "}, "abc"),
        ({"x-api-key": "abc"}, "abc"),
        ({"authorization": "Basic dXNlcjpwYXNz", "x-api-key": "abc"}, "abc"),
        ({"authorization": "Bearer "}, None),
        ({}, None),
    ],
)
def test_the_key_comes_from_a_bearer_authorization_or_x_api_key(headers, key):
    assert api_key_of(headers) == key


def test_a_checked_key_is_trusted_for_the_cache_time_then_checked_again():
    keys, clock = Keys(), Clock()
    keys.tenants["k1"] = "acme"
    cache = ApiKeyCache(keys, ttl_s=60, clock=clock)
    assert [cache.tenant_for("k1") for _ in range(3)] == ["acme"] * 3
    assert keys.reads == 1
    del keys.tenants["k1"]  # revoked
    clock.now += 59
    assert cache.tenant_for("k1") == "acme"
    clock.now += 2
    with pytest.raises(Unauthorized):
        cache.tenant_for("k1")


def test_unknown_keys_are_never_cached_so_a_new_key_works_at_once():
    keys = Keys()
    cache = ApiKeyCache(keys, ttl_s=60, clock=Clock())
    with pytest.raises(Unauthorized):
        cache.tenant_for("k2")
    keys.tenants["k2"] = "globex"
    assert cache.tenant_for("k2") == "globex"


def test_a_missing_key_is_refused_without_a_read():
    keys = Keys()
    with pytest.raises(Unauthorized, match="Send an API key"):
        ApiKeyCache(keys, ttl_s=60).tenant_for(None)
    assert keys.reads == 0


def test_the_cache_stays_bounded():
    keys = Keys()
    keys.tenants.update({f"k{i}": "acme" for i in range(10)})
    cache = ApiKeyCache(keys, ttl_s=60, clock=Clock(), max_entries=4)
    for i in range(10):
        cache.tenant_for(f"k{i}")
    assert keys.reads == 10
    cache.tenant_for("k9")  # still kept
    assert keys.reads == 10
    cache.tenant_for("k0")  # let go when the cache was full
    assert keys.reads == 11


def test_new_keys_are_random_and_only_their_hash_identifies_them():
    (first, first_id), (second, second_id) = new_api_key(), new_api_key()
    assert first != second and first_id != second_id
    assert first.startswith("fy_") and len(first) > 40
    assert key_hash(first) != key_hash(second) and len(key_hash(first)) == 64
    assert ApiKey(first_id, "acme", "ERP", "2026-11-22T00:00:00Z").revoked_at is None
