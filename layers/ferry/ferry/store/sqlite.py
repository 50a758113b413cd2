"""The entity store on embedded SQLite: the local stack's, and the tests' when MONGODB_URI is unset.

One table per data type, created on first use: tenant, key, set_key, writer,
row, updated_at and the document as JSON text (business fields only; `_key`
and `_updated_at` come from their columns). A batch is one transaction of a
few set-based statements, whatever its size.

Threads share one connection behind a lock. SQLite admits one writer at a time
anyway, a ":memory:" database lives only inside its connection, and the local
stack's reads are few and short, so connections per thread would buy little.
Other processes (a test reading the local stack's file) wait on the busy
timeout; WAL lets them read while a batch is written.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic_core import to_json

from ferry.store import filters
from ferry.store.port import Action, Collection, InvalidFilter, Page, Query, RowRejected, StoreUnavailable, ValuesPage, WriteRow
from ferry.store.batch import duplicate, merged_by_key, not_found


def _dumps(value: Any) -> str:
    # pydantic-core's serializer takes a quarter of json.dumps's time on documents: most of a batch's Python time.
    return to_json(value).decode()


# A document is bound as its UTF-8 JSON bytes and read as text by CAST(? AS TEXT): SQLite takes the bytes as
# they are, where a str costs Python a decode and sqlite3 the encode back (~8% of a batch's write).
_document_json = to_json


_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _top_level_path(name: str) -> str:
    if '"' in name:
        raise ValueError(f"a document field name may not contain a double quote: {name!r}")
    return "'$.\"" + name.replace("'", "''") + "\"'"


def _json_value(name: str) -> str:
    """A field's value as JSON inside json_array: `->` keeps true, false, objects and lists as JSON (json_extract would not)."""
    if name in filters.INTERNAL_COLUMNS:
        return filters.INTERNAL_COLUMNS[name]
    return f"doc -> {filters.sql_literal(filters.json_path(name))}"


class SqliteEntityStore:
    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        # Pages of 16 KB for a new file (an existing one keeps its own): documents of a few hundred bytes
        # split pages a quarter as often as with the default 4 KB; a batch writes ~12% faster.
        self._conn.execute("PRAGMA page_size=16384")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL stays consistent after a crash and skips an fsync per commit.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # A 10,000-row batch fills about 6 MB of pages: checkpoint every few batches (16 MB) rather than after each.
        page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        self._conn.execute(f"PRAGMA wal_autocheckpoint={16 * 1024 * 1024 // page_size}")
        self._lock = threading.Lock()
        self._tables: set[str] = set()

    @contextmanager
    def _session(self, data_type: str, write: bool = False) -> Iterator[tuple[sqlite3.Connection, str]]:
        table = _quote(data_type)
        with self._lock:
            try:
                if data_type not in self._tables:
                    self._create_table(data_type, table)
                    self._tables.add(data_type)
                if not write:
                    yield self._conn, table
                    return
                # IMMEDIATE takes the write lock before the batch looks up its keys, so no other writer changes them in between.
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn, table
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in _BUSY:
                    raise StoreUnavailable(f"SQLite is busy: {exc}") from exc
                raise

    def _create_table(self, data_type: str, table: str) -> None:
        self._conn.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS {table} (
                tenant TEXT NOT NULL, key TEXT NOT NULL, set_key TEXT, writer TEXT NOT NULL,
                row INTEGER NOT NULL, updated_at TEXT NOT NULL, doc TEXT NOT NULL,
                PRIMARY KEY (tenant, key)
            );
            CREATE INDEX IF NOT EXISTS {_quote(data_type + "_updated_at")} ON {table} (tenant, updated_at);
            -- Only Replace types have sets; the others' rows stay out of this index.
            CREATE INDEX IF NOT EXISTS {_quote(data_type + "_set_key")} ON {table} (tenant, set_key)
                WHERE set_key IS NOT NULL;
            """
        )

    def write_batch(
        self, coll: Collection, action: Action, rows: Sequence[WriteRow], *, writer: str, now: str
    ) -> list[RowRejected]:
        if not rows:
            return []
        with self._session(coll.data_type, write=True) as (conn, table):
            if action is Action.CREATE:
                rejected = self._create(conn, table, coll.tenant, rows, writer, now)
            elif action is Action.UPDATE:
                rejected = self._update(conn, table, coll.tenant, rows, writer, now)
            elif action is Action.CREATE_OR_UPDATE:
                self._create_or_update(conn, table, coll.tenant, rows, writer, now)
                rejected = []
            else:
                self._replace(conn, table, coll.tenant, rows, writer, now)
                rejected = []
        return sorted(rejected, key=lambda r: r.row)

    @staticmethod
    def _insert_sql(table: str) -> str:
        return f"INSERT INTO {table} (tenant, key, set_key, writer, row, updated_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, CAST(?7 AS TEXT))"

    @staticmethod
    def _owners(conn: sqlite3.Connection, table: str, tenant: str, keys: list[str]) -> dict[str, tuple[str, int]]:
        """key -> (writer, row) of the stored documents among keys, in one statement."""
        cursor = conn.execute(
            f"SELECT key, writer, row FROM {table} WHERE tenant = ? AND key IN (SELECT value FROM json_each(?))",
            (tenant, _dumps(keys)),
        )
        return {key: (owner, row) for key, owner, row in cursor}

    def _create(
        self, conn: sqlite3.Connection, table: str, tenant: str, rows: Sequence[WriteRow], writer: str, now: str
    ) -> list[RowRejected]:
        rejected: list[RowRejected] = []
        first: dict[str, WriteRow] = {}
        for row in rows:
            if row.key in first:
                rejected.append(duplicate(row, earlier_in_import=True))
            else:
                first[row.key] = row
        owners = self._owners(conn, table, tenant, list(first))
        fresh = []
        for key, row in first.items():
            owner = owners.get(key)
            if owner is None:
                fresh.append((tenant, key, row.set_key, writer, row.row, now, _document_json(row.doc)))
            elif owner != (writer, row.row):
                # The same writer's: an earlier row of this import (its chunks write a key in row order).
                rejected.append(duplicate(row, earlier_in_import=owner[0] == writer))
        conn.executemany(self._insert_sql(table), fresh)
        return rejected

    @staticmethod
    def _by_fields(rows: Sequence[WriteRow]) -> dict[tuple[str, ...], list[WriteRow]]:
        """One row per key, grouped by top-level field names: one statement per group sets exactly those fields."""
        if len({row.key for row in rows}) != len(rows):
            rows = [merged for merged, _ in merged_by_key(rows).values()]
        groups: dict[tuple[str, ...], list[WriteRow]] = {}
        for row in rows:
            groups.setdefault(tuple(row.doc), []).append(row)
        return groups

    @staticmethod
    def _set_fields(target: str, source: str, names: tuple[str, ...]) -> str:
        # json_set with `->` values sets each top-level field whole, nulls included, as MongoDB's $set does.
        pairs = "".join(f", {p}, {source} -> {p}" for p in map(_top_level_path, names))
        return f"json_set({target}{pairs})"

    def _update(
        self, conn: sqlite3.Connection, table: str, tenant: str, rows: Sequence[WriteRow], writer: str, now: str
    ) -> list[RowRejected]:
        merged = merged_by_key(rows)
        owners = self._owners(conn, table, tenant, list(merged))
        rejected = [not_found(r) for key, (_, group) in merged.items() if key not in owners for r in group]
        found = [row for key, (row, _) in merged.items() if key in owners]
        for names, group in self._by_fields(found).items():
            conn.executemany(
                f"UPDATE {table} SET writer = ?1, row = ?2, updated_at = ?3, doc = {self._set_fields('doc', 'CAST(?4 AS TEXT)', names)} "
                "WHERE tenant = ?5 AND key = ?6",
                [(writer, r.row, now, _document_json(r.doc), tenant, r.key) for r in group],
            )
        return rejected

    def _create_or_update(
        self, conn: sqlite3.Connection, table: str, tenant: str, rows: Sequence[WriteRow], writer: str, now: str
    ) -> None:
        for names, group in self._by_fields(rows).items():
            conn.executemany(
                self._insert_sql(table) + " ON CONFLICT (tenant, key) DO UPDATE SET writer = excluded.writer, "
                f"row = excluded.row, updated_at = excluded.updated_at, doc = {self._set_fields('doc', 'excluded.doc', names)}",
                [(tenant, r.key, r.set_key, writer, r.row, now, _document_json(r.doc)) for r in group],
            )

    def _replace(
        self, conn: sqlite3.Connection, table: str, tenant: str, rows: Sequence[WriteRow], writer: str, now: str
    ) -> None:
        # Rows of one key overwrite each other in row order: the last one stands, as in MongoDB.
        conn.executemany(
            self._insert_sql(table) + " ON CONFLICT (tenant, key) DO UPDATE SET set_key = excluded.set_key, "
            "writer = excluded.writer, row = excluded.row, updated_at = excluded.updated_at, doc = excluded.doc",
            [(tenant, r.key, r.set_key, writer, r.row, now, _document_json(r.doc)) for r in rows],
        )
        sets = sorted({r.set_key for r in rows if r.set_key is not None})
        conn.execute(
            f"DELETE FROM {table} WHERE tenant = ? AND set_key IS NOT NULL "
            "AND set_key IN (SELECT value FROM json_each(?)) AND writer != ?",
            (tenant, _dumps(sets), writer),
        )

    @staticmethod
    def _document(key: str, updated_at: str, doc: str) -> dict[str, Any]:
        out = json.loads(doc)
        out["_key"] = key
        out["_updated_at"] = updated_at
        return out

    def get(self, coll: Collection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self._session(coll.data_type) as (conn, table):
            cursor = conn.execute(
                f"SELECT key, updated_at, doc FROM {table} WHERE tenant = ? AND key IN (SELECT value FROM json_each(?))",
                (coll.tenant, _dumps(list(keys))),
            )
            return {key: self._document(key, updated_at, doc) for key, updated_at, doc in cursor}

    def query(self, coll: Collection, query: Query) -> Page:
        fields = None if query.fields is None else [*filters.validate_fields(query.fields), "_key", "_updated_at"]
        found, next_after = self._select(coll, query, "key, updated_at, doc")
        docs = [self._document(key, updated_at, doc) for key, updated_at, doc, *_ in found]
        if fields is not None:
            docs = [filters.project(doc, fields) for doc in docs]
        return Page(docs, next_after)

    def values(self, coll: Collection, query: Query) -> ValuesPage:
        if not query.fields:
            raise InvalidFilter("values needs the fields to read", "/fields")
        # SQLite picks the values out of each document in C and hands them over as one JSON array per row:
        # several times faster than decoding whole documents and walking their paths in Python.
        picked = ", ".join(_json_value(name) for name in filters.validate_fields(query.fields))
        found, next_after = self._select(coll, query, f"json_array({picked})")
        return ValuesPage(json.loads("[" + ",".join(row[0] for row in found) + "]"), next_after)

    def _select(self, coll: Collection, query: Query, columns: str) -> tuple[list[tuple[Any, ...]], str | None]:
        """One page of `columns` of the query's documents (followed by their sort values) and the next position."""
        where, params = filters.to_sql(query.filter)
        order = filters.validate_order(query.order)
        if query.limit < 1:
            raise InvalidFilter("limit must be at least 1", "/limit")
        values = [filters.sql_value(name) for name, _ in order]
        if query.after is not None:
            after = filters.decode_after(query.after, len(order))
            keyset, keyset_params = self._keyset(values, [d for _, d in order], after)
            where, params = f"({where}) AND {keyset}", params + keyset_params
        sort = ", ".join(f"{v} {'ASC' if d == 1 else 'DESC'}" for v, (_, d) in zip(values, order))
        sql = f"SELECT {columns}, {', '.join(values)} FROM {{table}} WHERE tenant = ? AND {where} ORDER BY {sort} LIMIT ?"
        with self._session(coll.data_type) as (conn, table):
            found = conn.execute(sql.format(table=table), [coll.tenant, *params, query.limit + 1]).fetchall()
        page = found[: query.limit]
        next_after = filters.encode_after(page[-1][-len(order):]) if len(found) > query.limit else None
        return page, next_after

    @staticmethod
    def _keyset(values: list[str], directions: list[int], after: list[Any]) -> tuple[str, list[Any]]:
        """Rows after the position: equal on the first i sort values, then past it on the next (NULLs sort first)."""
        alternatives: list[str] = []
        params: list[Any] = []
        for i, (value, direction, at) in enumerate(zip(values, directions, after)):
            if direction == -1 and at is None:
                continue  # nothing sorts below null
            terms = [f"{v} IS ?" for v in values[:i]]
            alt_params = list(after[:i])
            if at is None:
                terms.append(f"{value} IS NOT NULL")
            elif direction == 1:
                terms.append(f"{value} > ?")
                alt_params.append(at)
            else:
                terms.append(f"({value} < ? OR {value} IS NULL)")
                alt_params.append(at)
            alternatives.append("(" + " AND ".join(terms) + ")")
            params.extend(alt_params)
        return "(" + " OR ".join(alternatives) + ")", params

    def count(self, coll: Collection, filter: dict[str, Any] | None = None) -> int:
        where, params = filters.to_sql(filter or {})
        with self._session(coll.data_type) as (conn, table):
            return conn.execute(f"SELECT count(*) FROM {table} WHERE tenant = ? AND {where}", [coll.tenant, *params]).fetchone()[0]

    def count_written(self, coll: Collection, writer: str, rows: range) -> int:
        with self._session(coll.data_type) as (conn, table):
            cursor = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE tenant = ? AND writer = ? AND row >= ? AND row < ?", (coll.tenant, writer, rows.start, rows.stop)
            )
            return int(cursor.fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
