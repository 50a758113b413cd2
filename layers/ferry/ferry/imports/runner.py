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

from ferry.clock import Clock, rfc3339
from ferry.datatypes.registry import resolve
from ferry.datatypes.validation import validate_rows
from ferry.errors import InvalidTransition
from ferry.files import FileStore
from ferry.jobs.model import ChunkCounts, Job, JobError, JobStatus, errors_for_job
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
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
        manifest = []
        for number, chunk in enumerate(chunks):
            key = _chunk_key(job, number)
            self._files.put(key, json.dumps(chunk, separators=(",", ":")).encode(), "application/json")
            manifest.append({"chunk": number, "key": key, "first_row": number * size + 1, "rows": len(chunk)})
        # A JSON array: the shape the Map state's ItemReader takes, one item per chunk.
        manifest_key = _manifest_key(job)
        self._files.put(manifest_key, json.dumps(manifest).encode(), "application/json")
        self._jobs.set_plan(tenant, job_id, total=len(rows), chunk_count=len(chunks))
        return manifest_key

    def run_chunk(self, tenant: str, job_id: str, chunk: int) -> bool:
        """Validate and write one chunk. Answers False when the job stopped running (cancelled)."""
        job = self._jobs.get(tenant, job_id)
        if job.status is not JobStatus.RUNNING:
            return False
        data_type, action = resolve(job.args["dataType"], job.args["actionType"])
        rows = json.loads(self._files.get(_chunk_key(job, chunk)))
        first_row = chunk * self._chunk_rows
        valid, invalid = validate_rows(data_type, rows, first_row)
        refused = self._store.write_batch(
            Collection(tenant, data_type.name), action, valid, writer=job.id, now=rfc3339(self._clock.now())
        )
        rejected = [
            RejectedRow(JobError(e.code, e.message, e.row + 1, e.field or None), rows[e.row - first_row]) for e in invalid
        ] + [
            RejectedRow(JobError(r.code, r.message, r.row + 1, ",".join(data_type.key_fields)), rows[r.row - first_row])
            for r in refused
        ]
        rejected.sort(key=lambda r: r.error.row or 0)
        failed_rows = len({r.error.row for r in rejected})
        counts = ChunkCounts(processed=len(rows), succeeded=len(rows) - failed_rows, failed=failed_rows)
        outcome = {"counts": vars(counts), "rejected": [{"error": vars(r.error), "data": r.data} for r in rejected]}
        # The outcome file is written before the counts, so finish never sees counts without their errors.
        self._files.put(_outcome_key(job, chunk), json.dumps(outcome).encode(), "application/json")
        last_row = first_row + len(rows)
        return self._jobs.record_chunk(tenant, job_id, chunk, counts, f"rows {first_row + 1}-{last_row} of {job.total}")

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
            return self._cancel(job, fields, progress.processed)
        ended = JobStatus.FAILED if progress.total and progress.succeeded == 0 else JobStatus.FINISHED
        summary = (
            f"{progress.succeeded} of {progress.total} {job.args['dataType']} rows imported "
            f"({job.args['actionType']}), {progress.failed} rejected."
        )
        try:
            self._jobs.transition(tenant, job_id, ended, output=summary, **fields)
        except InvalidTransition as exc:
            if exc.current != JobStatus.CANCELLING.value:
                raise
            return self._cancel(job, fields, progress.processed)
        return ended

    def _cancel(self, job: Job, fields: dict[str, Any], processed: int) -> JobStatus:
        self._jobs.transition(
            job.tenant, job.id, JobStatus.CANCELLED, output=f"Cancelled after {processed} of {job.total} rows.", **fields
        )
        return JobStatus.CANCELLED

    def fail(self, tenant: str, job_id: str, reason: str) -> JobStatus:
        """End the job failed (or cancelled, if that was asked for) after a step raised."""
        job = self._jobs.get(tenant, job_id)
        if job.status.ended:
            return job.status
        target = JobStatus.CANCELLED if job.status is JobStatus.CANCELLING else JobStatus.FAILED
        self._jobs.transition(tenant, job_id, target, output=reason)
        return target

    def _rejected_rows(self, job: Job) -> list[RejectedRow]:
        rejected: list[RejectedRow] = []
        for chunk in sorted(int(c) for c in job.chunks):
            outcome = json.loads(self._files.get(_outcome_key(job, chunk)))
            rejected.extend(RejectedRow(JobError(**r["error"]), r["data"]) for r in outcome["rejected"])
        return rejected


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
