"""The parts of the ERP procedures: ERP -> staging (FullImportFromErp, ImportFromErp), staging -> entity store
(LoadFromIntegrator), the store's Orders -> ERP (ExportToErp).

Each may run again after a crash: an import replaces each staged table whole, a load
writes CreateOrUpdate as the job (the same rows again change nothing), and an export
writes only the orders the ERP does not have yet, each in its own transaction.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from itertools import islice
from typing import Any

from ferry.core.clock import Clock, rfc3339
from ferry.datatypes.registry import named
from ferry.datatypes.validation import validate_rows
from ferry.procedures.catalogue import ERP_TABLES, Outcome, RunContext
from ferry.procedures.erp import TABLES, ErpSources, ErpTable, OrderRefused, Row, document_of, erp_order_of, table_named
from ferry.procedures.staging import Staging
from ferry.store.port import Action, Collection, EntityStore, Query

READ_BATCH_ROWS = 10_000  # rows the ERP answers at a time, and what the staging spool takes at a time
LOAD_BATCH_ROWS = 10_000  # rows validated and written as one batch, as an import chunk
EXPORT_PAGE = 1_000  # stored orders read, and checked against the ERP in one query, at a time
NAMED_PROBLEMS = 10  # problems an outcome names; its counts say how many there were in all


class _ErpImport:
    def __init__(self, erp: ErpSources, staging: Staging) -> None:
        self._erp = erp
        self._staging = staging

    def _stage(self, run: RunContext, tables: Sequence[str]) -> Outcome:
        counts: dict[str, int] = {}
        with closing(self._erp(run.tenant)) as source:
            for table in tables:
                batches = _reported(run, table, source.read(table, READ_BATCH_ROWS))
                counts[table] = self._staging.write(run.tenant, table, batches)
        staged = ", ".join(f"{table} {rows}" for table, rows in counts.items())
        return Outcome(f"Read from the ERP into the staging area: {staged} rows.", counts)


class FullImportFromErp(_ErpImport):
    def __call__(self, run: RunContext) -> Outcome:
        return self._stage(run, ERP_TABLES)


class ImportFromErp(_ErpImport):
    def __call__(self, run: RunContext) -> Outcome:
        return self._stage(run, tables_of(run.args))


def tables_of(args: dict[str, Any]) -> list[str]:
    """The ERP tables `args["tables"]` names, canonically spelled, each once; ValueError when it names none or an unknown one.

    The procedure kind checks them when the job is created; a run started some other way gets the same answer here.
    """
    tables = list(dict.fromkeys(table_named(name).name for name in args.get("tables") or []))
    if not tables:
        raise ValueError(f"ImportFromErp reads the ERP tables named by `tables`, among: {', '.join(ERP_TABLES)}; none was named.")
    return tables


def _reported(run: RunContext, table: str, batches: Iterable[list[Row]]) -> Iterator[list[Row]]:
    rows = 0
    for batch in batches:
        rows += len(batch)
        run.report(f"{table}: {rows} rows")
        yield batch


class LoadFromIntegrator:
    def __init__(self, staging: Staging, store: EntityStore, clock: Clock) -> None:
        self._staging = staging
        self._store = store
        self._clock = clock

    def __call__(self, run: RunContext) -> Outcome:
        loaded: dict[str, int] = {}
        refused = 0
        problems: list[str] = []
        for table in TABLES.values():
            if self._staging.has(run.tenant, table.name):
                rows, failed = self._load(run, table, problems)
                loaded[table.data_type] = rows
                refused += failed
        if not loaded:
            return Outcome("Nothing staged: run FullImportFromErp or ImportFromErp first.", {"loaded": 0, "refused": 0})
        total = sum(loaded.values())
        per_type = ", ".join(f"{data_type} {rows}" for data_type, rows in loaded.items())
        summary = f"Loaded {total} rows into the store ({per_type}); {refused} refused."
        return Outcome(summary, {"loaded": total, "refused": refused}, refused, problems)

    def _load(self, run: RunContext, table: ErpTable, problems: list[str]) -> tuple[int, int]:
        """Validate and write the table's staged rows; answers (rows written, rows refused), naming refusals in `problems`."""
        data_type = named(table.data_type)
        coll = Collection(run.tenant, data_type.name)
        loaded = refused = position = 0
        rows = self._staging.rows(run.tenant, table.name)
        while docs := [document_of(table, row) for row in islice(rows, LOAD_BATCH_ROWS)]:
            valid, invalid = validate_rows(data_type, docs, position)
            # The job id as writer, as an import chunk's: the documents tell which run loaded them, and a retry rewrites the same ones.
            rejected = self._store.write_batch(
                coll, Action.CREATE_OR_UPDATE, valid, writer=run.job_id, now=rfc3339(self._clock.now())
            )
            failures = [(e.row, f"{e.field}: {e.message}" if e.field else e.message) for e in invalid]
            failures += [(r.row, r.message) for r in rejected]
            failed = len({row for row, _ in failures})
            if len(problems) < NAMED_PROBLEMS:
                problems.extend(
                    f"{table.name} row {row + 1} ({_key_text(docs[row - position], data_type.key_fields)}): {why}"
                    for row, why in sorted(failures)[: NAMED_PROBLEMS - len(problems)]
                )
            loaded += len(docs) - failed
            refused += failed
            position += len(docs)
            run.report(f"{data_type.name}: {loaded} rows loaded, {refused} refused")
        return loaded, refused


def _key_text(doc: dict[str, Any], key_fields: tuple[str, ...]) -> str:
    return "/".join(str(doc.get(name, "?")) for name in key_fields)


class ExportToErp:
    """Every Orders document of the store that the ERP does not have yet goes to the ERP, once."""

    def __init__(self, erp: ErpSources, store: EntityStore, clock: Clock) -> None:
        self._erp = erp
        self._store = store
        self._clock = clock

    def __call__(self, run: RunContext) -> Outcome:
        coll = Collection(run.tenant, "Orders")
        written = already = refused = 0
        problems: list[str] = []
        after: str | None = None
        with closing(self._erp(run.tenant)) as source:
            while True:
                page = self._store.query(coll, Query(limit=EXPORT_PAGE, after=after))
                # One query to pass over the orders exported by earlier runs; write_order checks again, inside its transaction.
                known = source.known_orders([doc["number"] for doc in page.docs])
                for doc in page.docs:
                    if doc["number"] in known:
                        already += 1
                        continue
                    try:
                        if source.write_order(erp_order_of(doc), writer=run.job_id, now=self._clock.now()):
                            written += 1
                        else:
                            already += 1
                    except OrderRefused as exc:
                        refused += 1
                        if len(problems) < NAMED_PROBLEMS:
                            problems.append(str(exc))
                run.report(f"Orders: {written} written to the ERP, {already} already there")
                if page.next_after is None:
                    break
                after = page.next_after
        summary = f"Orders: {written} written to the ERP, {already} already there, {refused} refused by it."
        return Outcome(summary, {"written": written, "already": already, "refused": refused}, refused, problems)
