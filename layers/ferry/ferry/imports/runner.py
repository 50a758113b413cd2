"""The steps of an import job, one per state of statemachines/job.asl.json.

start -> plan (split the input into chunks in S3) -> run_chunk (each chunk, maybe
in parallel, maybe retried) -> finish (totals, errors file, final status); fail
when anything above raised. Every step may run twice (Step Functions retries), so
each one is idempotent.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from ferry.core.clock import Clock, rfc3339
from ferry.datatypes.registry import resolve
from ferry.datatypes.validation import validate_rows
from ferry.core.errors import InvalidTransition
from ferry.files import FileStore
from ferry.jobs.model import MAX_MESSAGE_CHARS, MAX_OUTPUT_CHARS, ChunkCounts, Job, JobError, JobStatus, bounded, errors_for_job
from ferry.jobs.repository import JobRepository
from ferry.store.port import Collection, EntityStore


def _chunk_key(job: Job, chunk: int) -> str:
    return f"jobs/{job.tenant}/{job.id}/chunks/{chunk:05d}.json"


def _manifest_key(job: Job) -> str:
    return f"jobs/{job.tenant}/{job.id}/manifest.json"


def _outcome_key(job: Job, chunk: int) -> str:
    return f"jobs/{job.tenant}/{job.id}/outcomes/{chunk:05d}.json"


def errors_key(job: Job) -> str:
    return f"jobs/{job.tenant}/{job.id}/errors.csv"


@dataclass(frozen=True)
class ChunkRef:
    """One item of the chunk manifest: the only source of a chunk's file and first row."""

    number: int
    key: str
    first_row: int  # 1-based, in the job's input
    rows: int


@dataclass(frozen=True)
class RejectedRow:
    error: JobError
    data: Any  # the row as sent, for the errors file


class ImportRunner:
    def __init__(
        self, jobs: JobRepository, files: FileStore, store: EntityStore, clock: Clock, chunk_rows: int
    ) -> None:
        self._jobs = jobs
        self._files = files
        self._store = store
        self._clock = clock
        self._chunk_rows = chunk_rows

    def start(self, tenant: str, job_id: str) -> bool:
        """pending -> running. Answers False when the job was cancelled before it started."""
        try:
            self._jobs.transition(tenant, job_id, JobStatus.RUNNING, running_output="starting")
            return True
        except InvalidTransition as exc:
            if exc.current == JobStatus.RUNNING.value:
                return True  # a retried start
            if exc.current == JobStatus.CANCELLING.value:
                self._jobs.transition(tenant, job_id, JobStatus.CANCELLED, output="Cancelled before it started.")
            return False

    def plan(self, tenant: str, job_id: str) -> str:
        """Split the input into chunk files; answers the key of the manifest the Map state reads."""
        job = self._jobs.get(tenant, job_id)
        rows = json.loads(self._files.get(job.input_key))
        size = self._chunk_rows
        manifest = []
        for number, start in enumerate(range(0, len(rows), size)):
            chunk = ChunkRef(number=number, key=_chunk_key(job, number), first_row=start + 1, rows=len(rows[start : start + size]))
            self._files.put(chunk.key, json.dumps(rows[start : start + size], separators=(",", ":")).encode(), "application/json")
            manifest.append(vars(chunk))
        # A JSON array: the shape the Map state's ItemReader takes, one item per chunk, handed whole to run_chunk.
        manifest_key = _manifest_key(job)
        self._files.put(manifest_key, json.dumps(manifest).encode(), "application/json")
        self._jobs.set_plan(tenant, job_id, total=len(rows), chunk_count=len(manifest))
        return manifest_key

    def run_chunk(self, tenant: str, job_id: str, chunk: ChunkRef) -> bool:
        """Validate and write one chunk. Answers False when the job was no longer running, so nothing was written."""
        job = self._jobs.get(tenant, job_id)
        if job.status is not JobStatus.RUNNING:
            return False
        try:
            counts, rejected = self._write_chunk(job, chunk)
        except Exception as exc:
            # Step Functions may retry; if no attempt succeeds, this is the reason the job gives.
            self._jobs.record_chunk_failure(tenant, job_id, chunk.number, bounded(f"{type(exc).__name__}: {exc}", MAX_MESSAGE_CHARS))
            raise
        outcome = {"counts": vars(counts), "rejected": [{"error": vars(r.error), "data": r.data} for r in rejected]}
        # The outcome file is written before the counts, so finish never sees counts without their errors.
        self._files.put(_outcome_key(job, chunk.number), json.dumps(outcome).encode(), "application/json")
        last_row = chunk.first_row + chunk.rows - 1
        self._jobs.record_chunk(tenant, job_id, chunk.number, counts, f"rows {chunk.first_row}-{last_row} of {job.total}")
        return True

    def _write_chunk(self, job: Job, chunk: ChunkRef) -> tuple[ChunkCounts, list[RejectedRow]]:
        data_type, action = resolve(job.args["dataType"], job.args["actionType"])
        rows = json.loads(self._files.get(chunk.key))
        first = chunk.first_row - 1  # 0-based position of the chunk's first row in the job's input
        valid, invalid = validate_rows(data_type, rows, first)
        refused = self._store.write_batch(
            Collection(job.tenant, data_type.name), action, valid, writer=job.id, now=rfc3339(self._clock.now())
        )
        rejected = [
            RejectedRow(JobError(e.code, e.message, e.row + 1, e.field or None), rows[e.row - first]) for e in invalid
        ] + [
            RejectedRow(JobError(r.code, r.message, r.row + 1, ",".join(data_type.key_fields)), rows[r.row - first])
            for r in refused
        ]
        rejected.sort(key=lambda r: r.error.row or 0)
        failed_rows = len({r.error.row for r in rejected})
        return ChunkCounts(processed=len(rows), succeeded=len(rows) - failed_rows, failed=failed_rows), rejected

    def finish(self, tenant: str, job_id: str) -> JobStatus:
        job = self._jobs.get(tenant, job_id)
        if job.status.ended:
            return job.status
        rejected = self._rejected_rows(job)
        errors = [r.error for r in rejected]
        fields: dict[str, Any] = {"errors": errors_for_job(errors), "error_count": len(errors)}
        if rejected:
            fields["errors_key"] = errors_key(job)
            self._files.put(errors_key(job), _errors_csv(rejected), "text/csv")
        progress = job.progress
        if job.status is JobStatus.CANCELLING:
            return self._cancel(job, fields)
        missing = _unrecorded_chunks(job)
        if missing:
            # The Map ended without every chunk's counts: rows were never imported. Never call that finished.
            ended, summary = JobStatus.FAILED, bounded(f"{_missing_reason(job, missing, self._manifest(job))} {_counts(job)}", MAX_OUTPUT_CHARS)
        else:
            ended = JobStatus.FAILED if progress.total and progress.succeeded == 0 else JobStatus.FINISHED
            summary = _counts(job)
        try:
            self._jobs.transition(tenant, job_id, ended, output=summary, **fields)
        except InvalidTransition as exc:
            if exc.current != JobStatus.CANCELLING.value:
                raise
            return self._cancel(self._jobs.get(tenant, job_id), fields)
        return ended

    def _cancel(self, job: Job, fields: dict[str, Any]) -> JobStatus:
        progress = job.progress
        of = f" of {job.total}" if job.total is not None else ""
        output = f"Cancelled after {progress.processed}{of} rows: {progress.succeeded} imported, {progress.failed} rejected."
        self._jobs.transition(job.tenant, job.id, JobStatus.CANCELLED, output=output, **fields)
        return JobStatus.CANCELLED

    def fail(self, tenant: str, job_id: str, step: str, reason: str) -> JobStatus:
        """End the job failed (or cancelled, if that was asked for) after `step` raised `reason`."""
        job = self._jobs.get(tenant, job_id)
        if job.status.ended:
            return job.status
        if job.status is JobStatus.CANCELLING:
            return self._cancel(job, {})
        missing = _unrecorded_chunks(job) if step == "chunks" else []
        if missing:
            # A failed Map says only that some chunk failed; the job names which, and why.
            output = f"The chunks step failed: {_missing_reason(job, missing, self._manifest(job))} ({reason}) {_counts(job)}"
        else:
            output = f"The {step} step failed: {reason}"
        self._jobs.transition(tenant, job_id, JobStatus.FAILED, output=bounded(output, MAX_OUTPUT_CHARS))
        return JobStatus.FAILED

    def _manifest(self, job: Job) -> list[ChunkRef]:
        return [ChunkRef(**item) for item in json.loads(self._files.get(_manifest_key(job)))]

    def _rejected_rows(self, job: Job) -> list[RejectedRow]:
        rejected: list[RejectedRow] = []
        for chunk in sorted(int(c) for c in job.chunks):
            outcome = json.loads(self._files.get(_outcome_key(job, chunk)))
            rejected.extend(RejectedRow(JobError(**r["error"]), r["data"]) for r in outcome["rejected"])
        return rejected


def _unrecorded_chunks(job: Job) -> list[int]:
    return [n for n in range(job.chunk_count or 0) if str(n) not in job.chunks]


def _missing_reason(job: Job, missing: list[int], manifest: list[ChunkRef]) -> str:
    named = []
    for chunk in [c for c in manifest if c.number in missing][:5]:
        why = job.chunk_failures.get(str(chunk.number))
        rows = f"rows {chunk.first_row}-{chunk.first_row + chunk.rows - 1}"
        named.append(f"chunk {chunk.number} ({rows}" + (f": {why})" if why else ")"))
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return f"{len(missing)} of {job.chunk_count} chunks failed: {', '.join(named)}{more}."


def _counts(job: Job) -> str:
    progress = job.progress
    return (
        f"{progress.succeeded} of {job.total} {job.args['dataType']} rows imported "
        f"({job.args['actionType']}), {progress.failed} rejected."
    )


def _errors_csv(rejected: list[RejectedRow]) -> bytes:
    """row, field, code, message, then the rejected row's own top-level fields (nested values as JSON)."""
    columns: dict[str, None] = {}
    for r in rejected:
        if isinstance(r.data, dict):
            columns.update(dict.fromkeys(r.data))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "field", "code", "message", *columns])
    for r in rejected:
        data = r.data if isinstance(r.data, dict) else {}
        cells = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in (data.get(c, "") for c in columns)]
        writer.writerow([r.error.row, r.error.field or "", r.error.code, r.error.message, *cells])
    return out.getvalue().encode("utf-8")
