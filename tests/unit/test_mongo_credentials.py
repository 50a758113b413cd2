"""A rotated MongoDB password: the store logs in again with the connection string read anew."""
from __future__ import annotations

import mongomock
import pytest
from pymongo.errors import OperationFailure

from ferry.store.mongo import MongoEntityStore
from ferry.store.port import Action, Collection, StoreUnavailable, WriteRow

CUSTOMERS = Collection("acme", "Customers")


class RefusedPassword:
    """A client whose server refuses its credentials (as after a rotation): every database, collection and call."""

    closed = False

    def __getitem__(self, name: str) -> RefusedPassword:
        return self

    def __getattr__(self, name: str):
        def refused(*args, **kwargs):
            raise OperationFailure("Authentication failed.", code=18, details={"ok": 0, "code": 18, "codeName": "AuthenticationFailed"})

        return refused

    def close(self) -> None:
        self.closed = True


def row(key: str) -> WriteRow:
    return WriteRow(row=1, key=key, doc={"vendorId": key, "name": "Rossi"})


def test_a_refused_password_fails_the_attempt_as_unavailable_and_the_retry_logs_in_anew():
    stale, fresh = RefusedPassword(), mongomock.MongoClient()
    store = MongoEntityStore(stale, "ferry", reconnect=lambda: fresh)
    with pytest.raises(StoreUnavailable, match="refused the credentials"):
        store.write_batch(CUSTOMERS, Action.CREATE, [row("1")], writer="job-1", now="2026-11-22T21:00:00Z")
    assert stale.closed
    assert store.write_batch(CUSTOMERS, Action.CREATE, [row("1")], writer="job-1", now="2026-11-22T21:00:00Z") == []
    assert store.count(CUSTOMERS) == 1


def test_without_a_way_to_reconnect_a_refused_password_is_still_unavailable_not_a_crash():
    store = MongoEntityStore(RefusedPassword(), "ferry")
    with pytest.raises(StoreUnavailable):
        store.count(CUSTOMERS)
