"""The canonical job: what every dialect (seed 000-004) is a view of."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in ENDED


ENDED = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED})

# Every status change the system makes; a status never goes back.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.CANCELLING, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLING}),
    # Failed only when its execution died before it could stop (the sweeper's finding).
    JobStatus.CANCELLING: frozenset({JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.FINISHED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """The statuses a job may be in to move to `target`."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


MAX_ERRORS_IN_JOB = 100
# What one error or reason may take in the job item: DynamoDB items stop at 400 KB, whatever the input.
MAX_MESSAGE_CHARS = 500
MAX_FIELD_CHARS = 200
MAX_OUTPUT_CHARS = 2000


def bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ChunkCounts:
    processed: int
    succeeded: int
    failed: int
    # A chunk that failed through its retries: its counts are what its attempts left in the store.
    lost: bool = False


@dataclass(frozen=True)
class Progress:
    total: int | None
    processed: int
    succeeded: int
    failed: int

    @property
    def percent(self) -> float:
        if not self.total:
            return 0.0
        return round(100.0 * self.processed / self.total, 1)

    @classmethod
    def of(cls, total: int | None, chunks: dict[str, ChunkCounts]) -> Progress:
        return cls(
            total=total,
            processed=sum(c.processed for c in chunks.values()),
            succeeded=sum(c.succeeded for c in chunks.values()),
            failed=sum(c.failed for c in chunks.values()),
        )


@dataclass(frozen=True)
class Attachment:
    """The file a job works on. Size and digest are known once Ferry has the bytes (at once inline, after the fetch for a URL)."""

    name: str
    mime_type: str
    size: int | None = None
    sha256: str | None = None
    url: str | None = None  # fetched by the worker
    upload_id: str | None = None  # PUT by the client through POST /uploads


@dataclass(frozen=True)
class JobError:
    code: str
    message: str
    row: int | None = None  # 1-based row number in the job's input
    field: str | None = None


@dataclass(frozen=True)
class Job:
    id: str
    tenant: str
    type: str
    status: JobStatus
    args: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    attachment: Attachment | None = None
    input_key: str | None = None
    total: int | None = None
    chunks: dict[str, ChunkCounts] = field(default_factory=dict)
    chunk_failures: dict[str, str] = field(default_factory=dict)  # chunk number -> why its last attempt failed
    chunk_count: int | None = None
    running_output: str | None = None
    output: str | None = None
    errors: list[JobError] = field(default_factory=list)
    error_count: int = 0
    errors_key: str | None = None
    result_key: str | None = None
    plan_note: str | None = None  # what planning found worth telling (e.g. columns the file has that were ignored)
    started_at: datetime | None = None
    terminated_at: datetime | None = None
    execution_name: str | None = None  # when not the job id: a run an operator started from the console
    details: dict[str, Any] = field(default_factory=dict)  # what a kind records of its run (an export's file, timings)

    @classmethod
    def pending(
        cls, id: str, tenant: str, kind: str, args: dict[str, Any], now: datetime,
        attachment: Attachment | None, input_key: str | None, execution_name: str | None = None,
    ) -> Job:
        """A job as it is created, before anything runs: by the API, or by a run started from the console."""
        return cls(
            id=id, tenant=tenant, type=kind, status=JobStatus.PENDING, args=args, created_at=now, updated_at=now,
            attachment=attachment, input_key=input_key, execution_name=execution_name,
        )

    @property
    def progress(self) -> Progress:
        return Progress.of(self.total, self.chunks)

    @property
    def queued_ms(self) -> int | None:
        if self.started_at is None:
            return None
        return int((self.started_at - self.created_at).total_seconds() * 1000)

    @property
    def run_ms(self) -> int | None:
        if self.started_at is None or self.terminated_at is None:
            return None
        return int((self.terminated_at - self.started_at).total_seconds() * 1000)


def errors_for_job(errors: list[JobError]) -> list[dict[str, Any]]:
    """The first errors, cut to a bounded size, as stored in the job item (the full list is the errors file)."""
    shown = []
    for error in errors[:MAX_ERRORS_IN_JOB]:
        item: dict[str, Any] = {"code": error.code, "message": bounded(error.message, MAX_MESSAGE_CHARS)}
        if error.row is not None:
            item["row"] = error.row
        if error.field is not None:
            item["field"] = bounded(error.field, MAX_FIELD_CHARS)
        shown.append(item)
    return shown
