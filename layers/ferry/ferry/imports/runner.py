"""The steps of the import kinds, one per state of statemachines/import.asl.json.

plan (fetch a URL attachment, read the file as a stream, cut it into chunk files in S3,
write the manifest) -> run_chunk (each chunk, maybe in parallel, maybe retried) ->
finish (totals, errors file, final status); fail when anything above raised. Start,
fail and the end of a cancelled job are the engine's (ferry.jobs.lifecycle). Every
step may run twice (Step Functions retries), so each one is idempotent.

A chunk file holds the rows to validate. A JSON import's is just their JSON array, which
run_chunk validates straight from its bytes; a CSV's is an object that also carries the
file's own records, so that the errors file shows rejected rows as the user sent them.
"""
from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO

from pydantic_core import to_json

from ferry.core import collector, observability
from ferry.core.clock import Clock, rfc3339
from ferry.core.errors import InvalidTransition
from ferry.datatypes.datatype import DataType
from ferry.datatypes.paths import field_paths
from ferry.datatypes.registry import resolve
from ferry.datatypes.validation import validate_json_rows, validate_rows
from ferry.imports import errors_csv
from ferry.imports.formats import csv_table, json_array
from ferry.imports.formats.streams import prefixed
from ferry.imports.sources.url import FetchPolicy, fetch
from ferry.jobs import files
from ferry.jobs.lifecycle import Lifecycle
from ferry.jobs.model import MAX_MESSAGE_CHARS, MAX_OUTPUT_CHARS, Attachment, ChunkCounts, Job, JobError, JobStatus, bounded, errors_for_job
from ferry.jobs.ports import FileStore, JobStore
from ferry.store.port import Collection, EntityStore

_SPOOL_BYTES = 64 * 1024 * 1024  # a zip or a fetched file stays in memory up to this, then goes to /tmp
# How often a download looks whether its job was cancelled (it reads the job: one DynamoDB read each time).
_CANCEL_CHECK_S = 2.0


class UnreadableInput(Exception):
    """The job's file cannot be read at all: the job fails at once, with this reason."""


class DownloadStopped(Exception):
    """The job was cancelled while its URL attachment downloaded: the download stops there (the failure path
    ends the job cancelled, as it does a job cancelled at any other step)."""


class ChunkNotReady(Exception):
    """A chunk holds rows of keys that an earlier chunk also holds, and that chunk has not been recorded yet.

    The state machine retries it with a backoff (its Retry names this class): the rows of one
    key are written in their order in the file, as the action's semantics say, though the
    chunks run several at a time.
    """


@dataclass(frozen=True)
class ChunkRef:
    """One item of the chunk manifest: the only source of a chunk's file and first row."""

    number: int
    key: str
    first_row: int  # 1-based, in the job's input
    rows: int
    # The earlier chunks that hold rows of the same keys: this one is written after them.
    after: Sequence[int] = ()


@dataclass(frozen=True)
class Table:
    """A file read as rows: each row to validate with, for a CSV, the record as it was in the file."""

    rows: Iterator[tuple[Any, list[str] | None]]
    columns: list[str] | None = None  # a CSV's header, as in the file
    note: str | None = None  # what reading found worth telling the user


class ImportRunner:
    def __init__(
        self,
        jobs: JobStore,
        files: FileStore,
        store: EntityStore,
        lifecycle: Lifecycle,
        clock: Clock,
        chunk_rows: int,
        fetch_policy: FetchPolicy,
    ) -> None:
        self._jobs = jobs
        self._files = files
        self._store = store
        self._lifecycle = lifecycle
        self._clock = clock
        self._chunk_rows = chunk_rows
        self._fetch_policy = fetch_policy

    def plan(self, tenant: str, job_id: str) -> str:
        """Cut the input into chunk files; answers the key of the manifest the Map state reads."""
        job = self._jobs.get(tenant, job_id)
        if job.input_key is None and job.attachment is not None and job.attachment.url:
            job = self._fetch(job)
        data_type, _ = resolve(job.args["dataType"], job.args["actionType"])
        manifest: list[dict[str, Any]] = []
        total = 0
        # Which chunk last held each key (by its hash: a collision only makes a chunk wait needlessly).
        last_chunk_of: dict[int, int] = {}
        with self._files.open(job.input_key) as raw:
            table = self._read(job, raw, data_type)
            while True:
                with collector.paused():  # a batch's rows are JSON values, trees the collector cannot free
                    batch = list(islice(table.rows, self._chunk_rows))
                if not batch:
                    break
                number = len(manifest)
                after = _earlier_chunks_of_the_same_keys(data_type, (row for row, _ in batch), number, last_chunk_of)
                chunk = ChunkRef(number, files.chunk_key(job, number), total + 1, len(batch), after)
                content: Any = [row for row, _ in batch]
                if table.columns is not None:
                    content = {"rows": content, "columns": table.columns, "records": [record for _, record in batch]}
                # pydantic-core's serializer: the same JSON as json.dumps (compact, UTF-8), in a quarter of the time.
                self._files.put(chunk.key, to_json(content, inf_nan_mode="constants"), "application/json")
                manifest.append(vars(chunk))
                total += len(batch)
                self._jobs.set_running_output(tenant, job_id, f"reading the file: {total} rows so far")
        # A JSON array: the shape the Map state's ItemReader takes, one item per chunk, handed whole to run_chunk.
        manifest_key = files.manifest_key(job)
        self._files.put(manifest_key, json.dumps(manifest).encode(), "application/json")
        self._jobs.set_plan(tenant, job_id, total=total, chunk_count=len(manifest), running_output=f"{total} rows in {len(manifest)} chunks", note=table.note)
        return manifest_key

    def _fetch(self, job: Job) -> Job:
        """Download the URL attachment into the job's input file, with its size and digest."""
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            fetched = fetch(job.attachment.url, self._while_running(job, spool.write), self._fetch_policy)
            spool.seek(0)
            key = files.input_key(job.tenant, job.id)
            self._files.put_stream(key, spool, job.attachment.mime_type)
        attachment = Attachment(**{**vars(job.attachment), "size": fetched.size, "sha256": fetched.sha256})
        self._jobs.set_input(job.tenant, job.id, key, attachment)
        return self._jobs.get(job.tenant, job.id)

    def _while_running(self, job: Job, write: Callable[[bytes], object]) -> Callable[[bytes], None]:
        """`write`, but a cancel of the job stops it (a server that sends nothing at all is bounded by the fetch's deadline)."""
        checked_at = time.monotonic()

        def written(chunk: bytes) -> None:
            nonlocal checked_at
            if time.monotonic() - checked_at >= _CANCEL_CHECK_S:
                checked_at = time.monotonic()
                if self._jobs.get(job.tenant, job.id).status is not JobStatus.RUNNING:
                    raise DownloadStopped(f"the job was cancelled while {job.attachment.url} downloaded")
            write(chunk)

        return written

    def _read(self, job: Job, raw: BinaryIO, data_type: DataType) -> Table:
        if job.type == "import_json":
            try:
                return Table(((row, None) for row in _checked(json_array.rows_of(raw))))
            except json_array.NotAJsonArray as exc:
                raise UnreadableInput(str(exc)) from None
        paths = field_paths(data_type.model)
        options = csv_table.CsvOptions(job.args.get("delimiter"), job.args.get("encoding"), job.args.get("columns"))
        head = raw.read(4)
        stream = prefixed(head, raw)
        try:
            if csv_table.is_zip(head):
                spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
                _copy(stream, spool)
                spool.seek(0)
                stream = csv_table.open_zipped_file(spool)
            layout, records = csv_table.open_table(stream, options, paths)
        except csv_table.UnreadableFile as exc:
            raise UnreadableInput(str(exc)) from None
        note = None
        if layout.unknown:
            note = f"Columns ignored (not fields of {data_type.name}): {', '.join(layout.unknown)}."
        rows = ((csv_table.row_of(cells, layout), cells) for cells in _checked(records))
        return Table(rows, layout.header, note)

    def run_chunk(self, tenant: str, job_id: str, chunk: ChunkRef) -> bool:
        """Validate and write one chunk. Answers False when the job was no longer running, so nothing was written."""
        job = self._jobs.get(tenant, job_id)
        if job.status is not JobStatus.RUNNING:
            return False
        if str(chunk.number) in job.chunks:
            # An earlier attempt wrote and recorded it, then its answer was lost (a Lambda timed out or killed): the
            # chunks after it may have written later rows of its keys since, which running it again would overwrite.
            return True
        waiting = [n for n in chunk.after if str(n) not in job.chunks]
        if waiting:
            raise ChunkNotReady(f"chunk {chunk.number} waits for chunk {', '.join(map(str, waiting))}, which holds earlier rows of the same keys")
        begun = time.monotonic()
        try:
            counts, outcome = self._write_chunk(job, chunk)
        except Exception as exc:
            # Step Functions may retry; if no attempt succeeds, this is the reason the job gives.
            reason = bounded(f"{type(exc).__name__}: {exc}", MAX_MESSAGE_CHARS)
            self._jobs.record_chunk_failure(tenant, job_id, chunk.number, reason)
            observability.chunk_failed(job, chunk.number, reason)
            raise
        # The outcome file is written before the counts, so finish never sees counts without their errors.
        self._files.put(files.outcome_key(job, chunk.number), json.dumps(outcome, ensure_ascii=False).encode(), "application/json")
        last_row = chunk.first_row + chunk.rows - 1
        self._jobs.record_chunk(tenant, job_id, chunk.number, counts, f"rows {chunk.first_row}-{last_row} of {job.total}")
        observability.chunk_done(job, chunk.number, counts, int((time.monotonic() - begun) * 1000))
        return True

    def _write_chunk(self, job: Job, chunk: ChunkRef) -> tuple[ChunkCounts, dict[str, Any]]:
        data_type, action = resolve(job.args["dataType"], job.args["actionType"])
        raw = self._files.get(chunk.key)
        first = chunk.first_row - 1  # 0-based position of the chunk's first row in the job's input
        columns = records = None
        rows: list[Any] | None
        with collector.paused():
            if raw.startswith(b"["):  # a JSON import's rows, parsed into Python values only when some fail
                valid, invalid, rows = validate_json_rows(data_type, raw, first)
                processed = len(valid) if rows is None else len(rows)
            else:
                content = json.loads(raw)
                # A CSV's; or a JSON import's planned before its chunks became bare arrays, without columns and records.
                rows, columns, records = content["rows"], content.get("columns"), content.get("records")
                valid, invalid = validate_rows(data_type, rows, first)
                processed = len(rows)
            refused = self._store.write_batch(
                Collection(job.tenant, data_type.name), action, valid, writer=job.id, now=rfc3339(self._clock.now())
            )
        if refused and rows is None:
            rows = json.loads(raw)  # the refused rows' raw form, for the errors file
        errors = [JobError(e.code, e.message, e.row + 1, e.field or None) for e in invalid] + [
            JobError(r.code, r.message, r.row + 1, ",".join(data_type.key_fields)) for r in refused
        ]
        errors.sort(key=lambda e: e.row or 0)
        rejected = errors_csv.rejected_rows(errors, lambda row: (records or rows)[row - chunk.first_row])
        failed = len(rejected)
        counts = ChunkCounts(processed=processed, succeeded=processed - failed, failed=failed)
        return counts, {"counts": vars(counts), "columns": columns, "rejected": [r.to_json() for r in rejected]}

    def finish(self, tenant: str, job_id: str) -> JobStatus:
        job = self._jobs.get(tenant, job_id)
        if job.status.ended:
            return job.status
        columns, rejected = self._rejected_rows(job)
        errors = [e for r in rejected for e in r.errors]
        fields: dict[str, Any] = {"errors": errors_for_job(errors), "error_count": len(errors)}
        if rejected:
            fields["errors_key"] = files.errors_key(job)
            self._files.put(files.errors_key(job), errors_csv.render(columns, rejected), "text/csv")
        if job.status is JobStatus.CANCELLING:
            return self._lifecycle.end_cancelled(job, _cancelled(job), **fields)
        missing = _unrecorded_chunks(job)
        if missing:
            # The Map ended without every chunk's counts: rows were never imported. Never call that finished.
            manifest = self._manifest(job)
            job = self._count_what_lost_chunks_wrote(job, missing, manifest)
            ended, summary = JobStatus.FAILED, f"{_missing_reason(job, missing, manifest)} {_counts(job)}"
        else:
            ended = JobStatus.FAILED if job.progress.total and job.progress.succeeded == 0 else JobStatus.FINISHED
            summary = _counts(job)
        try:
            self._jobs.transition(tenant, job_id, ended, output=bounded(summary, MAX_OUTPUT_CHARS), **fields)
        except InvalidTransition as exc:
            if exc.current != JobStatus.CANCELLING.value:
                raise
            current = self._jobs.get(tenant, job_id)
            return self._lifecycle.end_cancelled(current, _cancelled(current), **fields)
        if ended is JobStatus.FAILED:
            observability.job_failed(job, "finish", summary)
        return ended

    def fail(self, tenant: str, job_id: str, step: str, reason: str) -> JobStatus:
        """End the job failed after `step` raised; a failed Map is told by the chunks it lost."""
        job = self._jobs.get(tenant, job_id)
        if job.status is JobStatus.CANCELLING:
            return self._lifecycle.end_cancelled(job, _cancelled(job))
        missing = _unrecorded_chunks(job) if step == "chunks" and not job.status.ended else []
        if missing:
            # A failed Map says only that some chunk failed; the job names which, and why.
            manifest = self._manifest(job)
            job = self._count_what_lost_chunks_wrote(job, missing, manifest)
            reason = f"{_missing_reason(job, missing, manifest)} ({reason}) {_counts(job)}"
        return self._lifecycle.fail(tenant, job_id, step, reason)

    def _count_what_lost_chunks_wrote(self, job: Job, missing: list[int], manifest: list[ChunkRef]) -> Job:
        """Count the rows that chunks failed through their retries wrote all the same, so the job's counts equal what it wrote.

        An attempt can write part of its batch before it fails (MongoDB's unordered bulk write
        that broke off, a worker that died before recording); the store knows them by writer and row.
        """
        data_type, _ = resolve(job.args["dataType"], job.args["actionType"])
        coll = Collection(job.tenant, data_type.name)
        for chunk in manifest:
            if chunk.number in missing:
                first = chunk.first_row - 1
                written = self._store.count_written(coll, job.id, range(first, first + chunk.rows))
                lost = ChunkCounts(processed=written, succeeded=written, failed=0, lost=True)
                self._jobs.record_chunk(job.tenant, job.id, chunk.number, lost, f"chunk {chunk.number} failed after writing {written} of its rows")
        return self._jobs.get(job.tenant, job.id)

    def _manifest(self, job: Job) -> list[ChunkRef]:
        return [ChunkRef(**item) for item in json.loads(self._files.get(files.manifest_key(job)))]

    def _rejected_rows(self, job: Job) -> tuple[list[str] | None, list[errors_csv.RejectedRow]]:
        columns, rejected = None, []
        for chunk in sorted(int(c) for c, counts in job.chunks.items() if not counts.lost):  # a lost chunk left no outcome
            outcome = json.loads(self._files.get(files.outcome_key(job, chunk)))
            columns = columns or outcome.get("columns")
            rejected.extend(errors_csv.RejectedRow.from_json(r) for r in outcome["rejected"])
        return columns, rejected


def _checked(rows: Iterator[Any]) -> Iterator[Any]:
    """The rows, with a reading error met halfway through the file turned into UnreadableInput."""
    try:
        yield from rows
    except (json_array.NotAJsonArray, csv_table.UnreadableFile) as exc:
        raise UnreadableInput(str(exc)) from None


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    while block := source.read(1 << 20):
        target.write(block)


def _earlier_chunks_of_the_same_keys(data_type: DataType, rows: Iterable[Any], number: int, last_chunk_of: dict[int, int]) -> tuple[int, ...]:
    """The earlier chunks holding keys of these rows (the latest each: they wait in turn); notes these rows' keys as chunk `number`'s."""
    key_of = data_type.key_of
    after: set[int] = set()
    for row in rows:
        if not isinstance(row, dict):
            continue  # refused whole: it writes nothing
        key = hash(key_of(row))
        earlier = last_chunk_of.get(key)
        if earlier is not None and earlier != number:
            after.add(earlier)
        last_chunk_of[key] = number
    return tuple(sorted(after))


def _unrecorded_chunks(job: Job) -> list[int]:
    return [n for n in range(job.chunk_count or 0) if str(n) not in job.chunks or job.chunks[str(n)].lost]


def _missing_reason(job: Job, missing: list[int], manifest: list[ChunkRef]) -> str:
    named = []
    for chunk in [c for c in manifest if c.number in missing][:5]:
        why = job.chunk_failures.get(str(chunk.number))
        if why is None and (waited := [n for n in chunk.after if n in missing]):
            why = f"it waited for chunk {', '.join(map(str, waited))}, which holds earlier rows of the same keys"
        rows = f"rows {chunk.first_row}-{chunk.first_row + chunk.rows - 1}"
        counted = job.chunks.get(str(chunk.number))
        written = f"; {counted.succeeded} of them written" if counted and counted.succeeded else ""
        named.append(f"chunk {chunk.number} ({rows}" + (f": {why}" if why else "") + f"{written})")
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return f"{len(missing)} of {job.chunk_count} chunks failed: {', '.join(named)}{more}."


def _counts(job: Job) -> str:
    progress = job.progress
    summary = (
        f"{progress.succeeded} of {job.total} {job.args['dataType']} rows imported "
        f"({job.args['actionType']}), {progress.failed} rejected."
    )
    return f"{summary} {job.plan_note}" if job.plan_note else summary


def _cancelled(job: Job) -> str:
    progress = job.progress
    of = f" of {job.total}" if job.total is not None else ""
    return f"Cancelled after {progress.processed}{of} rows: {progress.succeeded} imported, {progress.failed} rejected."

