"""The entity store port: where business data (customers, products, ...) lives.

One collection per data type, documents isolated by tenant, each document
identified by its business key. Two adapters implement it: MongoDB (production)
and embedded SQLite (local stack and tests when MONGODB_URI is unset).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol


class Action(StrEnum):
    """What an import does with each row (the seed-004 actionType values)."""

    CREATE = "Create"  # insert; a row whose key exists is rejected (duplicate_key)
    UPDATE = "Update"  # set the row's top-level fields on the existing document; missing key is rejected (not_found)
    CREATE_OR_UPDATE = "CreateOrUpdate"  # upsert: set the row's top-level fields, inserting if missing
    REPLACE = "Replace"  # the rows replace their whole set (see WriteRow.set_key)


@dataclass(frozen=True, slots=True)
class Collection:
    """One data type's documents of one tenant."""

    tenant: str
    data_type: str


class WriteRow(NamedTuple):
    """One validated input row, ready to write.

    A NamedTuple, immutable like the dataclasses here but built in a third of a frozen
    dataclass's time: an import makes one per row.
    """

    row: int  # 0-based position of the row in the job's input
    key: str  # business key, unique within the collection
    doc: dict[str, Any]  # JSON-compatible document, business fields only
    set_key: str | None = None  # Replace only: the set this row belongs to


@dataclass(frozen=True, slots=True)
class RowRejected:
    row: int
    key: str
    code: str  # "duplicate_key" | "not_found"
    message: str


@dataclass(frozen=True, slots=True)
class Page:
    docs: list[dict[str, Any]]
    next_after: str | None = None  # opaque position to pass as `after` for the next page


@dataclass(frozen=True, slots=True)
class ValuesPage:
    rows: list[list[Any]]  # each document as the values of the query's fields, in their order
    next_after: str | None = None


@dataclass(frozen=True, slots=True)
class Query:
    """A read of one collection.

    `filter` is the validated MongoDB subset of ferry.store.filters; `fields`
    (dotted paths) limits what each document carries, None means all;
    `order` is a list of (field, 1|-1), ties broken by key.
    """

    filter: dict[str, Any] = field(default_factory=dict)
    fields: Sequence[str] | None = None
    order: Sequence[tuple[str, int]] = ()
    limit: int = 1000
    after: str | None = None


class EntityStore(Protocol):
    def write_batch(
        self, coll: Collection, action: Action, rows: Sequence[WriteRow], *, writer: str, now: str
    ) -> list[RowRejected]:
        """Write a batch with the action's semantics; answer the rows that were refused.

        `writer` is the job id. A document already written by the same writer
        for the same row counts as this write, so retrying a batch after a crash
        neither duplicates nor rejects rows. For Replace, after the rows are
        written, every document of the same sets not written by this writer is
        deleted. `now` (RFC 3339) becomes the documents' `_updated_at`.
        """

    def get(self, coll: Collection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored documents (business fields plus `_key`, `_updated_at`) by key; missing keys are absent."""

    def query(self, coll: Collection, query: Query) -> Page: ...

    def values(self, coll: Collection, query: Query) -> ValuesPage:
        """The query's documents as rows of the values at `query.fields` (required), in that order.

        A value is what `filters.lookup` finds: None where the path is missing or runs
        through anything but objects. An export reads its columns this way, so no
        document is rebuilt only to be taken apart again.
        """

    def count(self, coll: Collection, filter: dict[str, Any] | None = None) -> int: ...

    def count_written(self, coll: Collection, writer: str, rows: range) -> int:
        """How many documents `writer` (a job) last wrote from its input rows in `rows` (0-based positions).

        What a batch that failed through its retries left in the store: an unordered bulk write
        may have written part of it before the store went away.
        """

    def close(self) -> None: ...


class StoreUnavailable(Exception):
    """The store could not be reached; the work may be retried."""


class InvalidFilter(ValueError):
    """A filter outside the supported MongoDB subset. `path` is a JSON pointer to the offending part."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path
