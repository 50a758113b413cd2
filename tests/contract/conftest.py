"""The entity store adapters the contract runs against: SQLite, mongomock, and a real MongoDB when MONGODB_URI is set."""
from __future__ import annotations

import os
import uuid

import mongomock.collection
import pymongo
import pytest

from ferry.store.mongo import MongoEntityStore
from ferry.store.sqlite import SqliteEntityStore


def _without_sort(method):
    # mongomock 4.3 predates pymongo 4.11's `sort` argument of UpdateOne/ReplaceOne (fixed upstream, unreleased).
    def patched(self, *args, sort=None, **kwargs):
        return method(self, *args, **kwargs)

    return patched


@pytest.fixture
def _mongomock_accepts_sort(monkeypatch):
    builder = mongomock.collection.BulkOperationBuilder
    monkeypatch.setattr(builder, "add_update", _without_sort(builder.add_update))
    monkeypatch.setattr(builder, "add_replace", _without_sort(builder.add_replace))


@pytest.fixture(params=["sqlite", "mongomock", "mongodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        adapter = SqliteEntityStore(str(tmp_path / "entities.sqlite3"))
        yield adapter
        adapter.close()
    elif request.param == "mongomock":
        request.getfixturevalue("_mongomock_accepts_sort")
        adapter = MongoEntityStore(mongomock.MongoClient(), "ferry")
        yield adapter
        adapter.close()
    else:
        uri = os.environ.get("MONGODB_URI")
        if not uri:
            pytest.skip("MONGODB_URI is not set: the contract runs against SQLite and mongomock only")
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        database = f"ferry_contract_{uuid.uuid4().hex[:12]}"
        adapter = MongoEntityStore(client, database)
        yield adapter
        client.drop_database(database)
        adapter.close()
