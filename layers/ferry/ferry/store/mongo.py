"""The entity store on MongoDB: production's.

One collection per data type. A document holds its business fields at the top
level and the internal fields `_tenant`, `_key`, `_set`, `_writer`, `_row`,
`_updated_at`; reads answer business fields plus `_key` and `_updated_at`.
Each batch is one unordered bulk_write (pymongo splits it to the server's
limits) plus at most one find or delete_many, never a call per row.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pymongo import ASCENDING, IndexModel, InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure

from ferry.store import filters
from ferry.store.port import Action, Collection, InvalidFilter, Page, Query, RowRejected, StoreUnavailable, ValuesPage, WriteRow
from ferry.store.batch import duplicate, merged_by_key, not_found

_DUPLICATE_KEY = 11000
_AUTHENTICATION_FAILED = 18
_HIDDEN = {"_id": 0, "_tenant": 0, "_set": 0, "_writer": 0, "_row": 0}
_ALWAYS = ["_key", "_updated_at"]


class MongoEntityStore:
    def __init__(self, client: Any, database: str, reconnect: Callable[[], Any] | None = None) -> None:
        """`reconnect` makes a new client, reading the connection string again: called when the server
        refuses the credentials (a rotated password), so that the next attempt logs in with the new one."""
        self._client = client
        self._database = database
        self._db = client[database]
        self._reconnect = reconnect
        self._indexed: set[str] = set()
        self._lock = threading.Lock()
        self._renewing = threading.Lock()

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        # ServerSelectionTimeoutError, AutoReconnect and NetworkTimeout are all ConnectionFailures.
        try:
            yield
        except ConnectionFailure as exc:
            raise StoreUnavailable(f"MongoDB is unreachable: {exc}") from exc
        except OperationFailure as exc:
            if exc.code != _AUTHENTICATION_FAILED:
                raise
            self._renew_client()
            # StoreUnavailable is retried (the state machines' Retry): the retry uses the new client.
            raise StoreUnavailable("MongoDB refused the credentials; they are read again for the next attempt") from None

    def _renew_client(self) -> None:
        if self._reconnect is None:
            return
        with self._renewing:
            stale, self._client = self._client, self._reconnect()
            self._db = self._client[self._database]
        stale.close()

    def _collection(self, data_type: str) -> Any:
        collection = self._db[data_type]
        if data_type not in self._indexed:
            with self._lock, self._reachable():
                if data_type not in self._indexed:
                    collection.create_indexes(
                        [
                            IndexModel([("_tenant", ASCENDING), ("_key", ASCENDING)], unique=True, name="tenant_key"),
                            IndexModel([("_tenant", ASCENDING), ("_updated_at", ASCENDING)], name="tenant_updated_at"),
                            IndexModel([("_tenant", ASCENDING), ("_set", ASCENDING)], name="tenant_set"),
                        ]
                    )
                    self._indexed.add(data_type)
        return collection

    def write_batch(
        self, coll: Collection, action: Action, rows: Sequence[WriteRow], *, writer: str, now: str
    ) -> list[RowRejected]:
        if not rows:
            return []
        collection = self._collection(coll.data_type)
        with self._reachable():
            if action is Action.CREATE:
                rejected = self._create(collection, coll.tenant, rows, writer, now)
            elif action is Action.UPDATE:
                rejected = self._update(collection, coll.tenant, rows, writer, now)
            elif action is Action.CREATE_OR_UPDATE:
                self._create_or_update(collection, coll.tenant, rows, writer, now)
                rejected = []
            else:
                self._replace(collection, coll.tenant, rows, writer, now)
                rejected = []
        return sorted(rejected, key=lambda r: r.row)

    @staticmethod
    def _internal(tenant: str, row: WriteRow, writer: str, now: str) -> dict[str, Any]:
        fields = {"_tenant": tenant, "_key": row.key, "_writer": writer, "_row": row.row, "_updated_at": now}
        if row.set_key is not None:
            fields["_set"] = row.set_key
        return fields

    def _create(self, collection: Any, tenant: str, rows: Sequence[WriteRow], writer: str, now: str) -> list[RowRejected]:
        rejected: list[RowRejected] = []
        first: list[WriteRow] = []
        seen: set[str] = set()
        for row in rows:
            if row.key in seen:
                rejected.append(duplicate(row, earlier_in_import=True))
            else:
                seen.add(row.key)
                first.append(row)
        try:
            collection.bulk_write(
                [InsertOne({**row.doc, **self._internal(tenant, row, writer, now)}) for row in first], ordered=False
            )
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                raise StoreUnavailable(f"MongoDB did not confirm the writes: {exc.details['writeConcernErrors']}") from exc
            errors = exc.details["writeErrors"]
            if any(error["code"] != _DUPLICATE_KEY for error in errors):
                raise
            clashes = [first[error["index"]] for error in errors]
            owners = {
                doc["_key"]: (doc["_writer"], doc["_row"])
                for doc in collection.find(
                    {"_tenant": tenant, "_key": {"$in": [row.key for row in clashes]}},
                    {"_id": 0, "_key": 1, "_writer": 1, "_row": 1},
                )
            }
            for row in clashes:
                owner = owners.get(row.key)
                # A document this writer wrote for this very row is an earlier attempt of this batch; for
                # another of its rows, an earlier row of this import (its chunks write a key in row order).
                if owner != (writer, row.row):
                    rejected.append(duplicate(row, earlier_in_import=owner is not None and owner[0] == writer))
        return rejected

    def _update(self, collection: Any, tenant: str, rows: Sequence[WriteRow], writer: str, now: str) -> list[RowRejected]:
        merged = merged_by_key(rows)
        found = {
            doc["_key"]
            for doc in collection.find({"_tenant": tenant, "_key": {"$in": list(merged)}}, {"_id": 0, "_key": 1})
        }
        operations = [
            UpdateOne({"_tenant": tenant, "_key": key}, {"$set": {**row.doc, **self._internal(tenant, row, writer, now)}})
            for key, (row, _) in merged.items()
            if key in found
        ]
        if operations:
            collection.bulk_write(operations, ordered=False)
        return [not_found(row) for key, (_, group) in merged.items() if key not in found for row in group]

    def _create_or_update(self, collection: Any, tenant: str, rows: Sequence[WriteRow], writer: str, now: str) -> None:
        if len({row.key for row in rows}) != len(rows):  # folding costs a dict per row: only when a key repeats
            rows = [merged for merged, _ in merged_by_key(rows).values()]
        collection.bulk_write(
            [
                UpdateOne(
                    {"_tenant": tenant, "_key": row.key},
                    {"$set": {**row.doc, **self._internal(tenant, row, writer, now)}},
                    upsert=True,
                )
                for row in rows
            ],
            ordered=False,
        )

    def _replace(self, collection: Any, tenant: str, rows: Sequence[WriteRow], writer: str, now: str) -> None:
        last = {row.key: row for row in rows}  # rows of one key overwrite each other: the last one stands
        collection.bulk_write(
            [
                ReplaceOne({"_tenant": tenant, "_key": key}, {**row.doc, **self._internal(tenant, row, writer, now)}, upsert=True)
                for key, row in last.items()
            ],
            ordered=False,
        )
        sets = sorted({row.set_key for row in rows if row.set_key is not None})
        if sets:
            collection.delete_many({"_tenant": tenant, "_set": {"$in": sets}, "_writer": {"$ne": writer}})

    def get(self, coll: Collection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        collection = self._collection(coll.data_type)
        with self._reachable():
            found = collection.find({"_tenant": coll.tenant, "_key": {"$in": list(keys)}}, _HIDDEN)
            return {doc["_key"]: doc for doc in found}

    def query(self, coll: Collection, query: Query) -> Page:
        where = {**filters.validate(query.filter), "_tenant": coll.tenant}
        order = filters.validate_order(query.order)
        if query.limit < 1:
            raise InvalidFilter("limit must be at least 1", "/limit")
        if query.after is not None:
            where = {"$and": [where, self._keyset(order, filters.decode_after(query.after, len(order)))]}
        wanted = None if query.fields is None else [*filters.validate_fields(query.fields), *_ALWAYS]
        # The server projects what the caller wants plus the sort fields (for the next position).
        fetched = None if wanted is None else self._covering([*wanted, *(name for name, _ in order)])
        projection = _HIDDEN if fetched is None else {**dict.fromkeys(fetched, 1), "_id": 0}
        collection = self._collection(coll.data_type)
        with self._reachable():
            found = list(collection.find(where, projection).sort(order).limit(query.limit + 1))
        page = found[: query.limit]
        next_after = None
        if len(found) > query.limit:
            next_after = filters.encode_after([filters.lookup(page[-1], name) for name, _ in order])
        if wanted is not None and set(fetched or ()) != set(wanted):
            page = [filters.project(doc, wanted) for doc in page]
        return Page(page, next_after)

    def values(self, coll: Collection, query: Query) -> ValuesPage:
        if not query.fields:
            raise InvalidFilter("values needs the fields to read", "/fields")
        page = self.query(coll, query)
        return ValuesPage([[filters.lookup(doc, name) for name in query.fields] for doc in page.docs], page.next_after)

    @staticmethod
    def _covering(names: list[str]) -> list[str]:
        """The fewest paths covering names: MongoDB refuses a projection naming a path and one inside it."""
        unique = sorted(set(names))
        return [n for n in unique if not any(n.startswith(other + ".") for other in unique)]

    @staticmethod
    def _keyset(order: list[tuple[str, int]], after: list[Any]) -> dict[str, Any]:
        """Documents after the position: equal on the first i sort fields, then past it on the next (null sorts first)."""
        alternatives = []
        for i, ((name, direction), at) in enumerate(zip(order, after)):
            if direction == -1 and at is None:
                continue  # nothing sorts below null
            terms: list[dict[str, Any]] = [{field: value} for (field, _), value in zip(order[:i], after[:i])]
            if at is None:
                terms.append({name: {"$ne": None}})
            elif direction == 1:
                terms.append({name: {"$gt": at}})
            else:
                terms.append({"$or": [{name: {"$lt": at}}, {name: None}]})
            alternatives.append({"$and": terms})
        return {"$or": alternatives}

    def count(self, coll: Collection, filter: dict[str, Any] | None = None) -> int:
        where = {**filters.validate(filter or {}), "_tenant": coll.tenant}
        collection = self._collection(coll.data_type)
        with self._reachable():
            return collection.count_documents(where)

    def count_written(self, coll: Collection, writer: str, rows: range) -> int:
        collection = self._collection(coll.data_type)
        with self._reachable():
            return collection.count_documents({"_tenant": coll.tenant, "_writer": writer, "_row": {"$gte": rows.start, "$lt": rows.stop}})

    def close(self) -> None:
        self._client.close()
