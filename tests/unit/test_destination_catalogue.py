"""A tenant's destinations as the catalogue keeps them: how many, and what a refusal leaves behind."""
from __future__ import annotations

import pytest

from ferry.core.errors import InvalidRequest
from ferry.destinations.catalogue import MAX_PER_TENANT, Destinations
from ferry.testing import InMemorySavedItems, InMemorySecrets, StillClock


def test_a_tenant_keeps_a_bounded_number_of_destinations_and_a_refusal_stores_nothing():
    saved, secrets = InMemorySavedItems(), InMemorySecrets()
    destinations = Destinations(saved, secrets, lambda *_: None, StillClock())
    for n in range(MAX_PER_TENANT):
        destinations.create("acme", {"name": f"bucket {n}", "type": "s3", "prefix": f"p{n}"})
    stored = dict(secrets.values)

    with pytest.raises(InvalidRequest, match=f"at most {MAX_PER_TENANT} destinations"):
        destinations.create("acme", {"name": "one too many", "type": "s3"})

    assert len(destinations.list("acme")) == MAX_PER_TENANT and secrets.values == stored
    assert destinations.create("globex", {"name": "another tenant's first", "type": "s3"})["name"] == "another tenant's first"
