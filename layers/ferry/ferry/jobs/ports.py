"""The ports of the job engine: what it needs from the outside, as Protocols.

Each has one adapter in `ferry.aws` and an in-memory fake in `ferry.testing`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Protocol

from ferry.jobs.model import Attachment, ChunkCounts, Job, JobStatus


class JobStore(Protocol):
    """Jobs, every status change a conditional write (InvalidTransition when another writer got there first)."""

    def create(self, job: Job) -> None: ...

    def get(self, tenant: str, job_id: str) -> Job: ...

    def transition(self, tenant: str, job_id: str, to: JobStatus, **fields: Any) -> Job: ...

    def set_input(self, tenant: str, job_id: str, input_key: str, attachment: Attachment) -> None: ...

    def set_running_output(self, tenant: str, job_id: str, running_output: str) -> None: ...

    def set_details(self, tenant: str, job_id: str, details: dict[str, Any]) -> None: ...

    def claim_announcement(self, tenant: str, job_id: str, held_for: timedelta) -> bool:
        """Take on publishing the job's end; False when it was published, or another caller took it on less than
        `held_for` ago (a caller killed while publishing leaves a claim that lapses, so the end is not lost)."""

    def release_announcement(self, tenant: str, job_id: str) -> None:
        """The publish failed: the next attempt may claim it at once."""

    def confirm_announcement(self, tenant: str, job_id: str) -> None:
        """The end was published: it is never claimed again, and leaves `unannounced`."""

    def claim_notice(self, tenant: str, job_id: str) -> bool:
        """Take on mailing the job's end notice; False when it was taken on before (a `Job Ended` delivered twice)."""

    def release_notice(self, tenant: str, job_id: str) -> None:
        """The notice could not be sent: a repeat of the event may try again."""

    def set_plan(self, tenant: str, job_id: str, total: int, chunk_count: int, running_output: str | None, note: str | None = None) -> None:
        """The job's size; `running_output` (None: left as it is) says what the job does now, in its kind's words."""

    def record_chunk(self, tenant: str, job_id: str, chunk: int, counts: ChunkCounts, running_output: str) -> None: ...

    def record_chunk_failure(self, tenant: str, job_id: str, chunk: int, reason: str) -> None: ...

    def list(
        self,
        tenant: str,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Job], str | None]: ...

    def unended(self, created_before: datetime) -> Iterable[Job]: ...

    def unannounced(self, created_before: datetime) -> Iterable[Job]:
        """Jobs that ended and whose `Job Ended` is not yet known to be published (a publish failed, or its caller died)."""


@dataclass(frozen=True)
class Claim:
    """Either a fresh claim (job_id None: go ahead and create) or the job a previous request created.

    `abandoned_job_id`: on a fresh claim taken over from a crashed request, the job that request meant to create.
    """

    job_id: str | None
    abandoned_job_id: str | None = None


class IdempotencyStore(Protocol):
    def claim(self, tenant: str, key: str, request_hash: str, job_id: str) -> Claim: ...

    def complete(self, tenant: str, key: str, job_id: str) -> None: ...

    def release(self, tenant: str, key: str) -> None: ...


class FileMissing(Exception):
    """No file at that key."""


class FileStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None: ...

    def put_stream(self, key: str, stream: BinaryIO, content_type: str = "application/octet-stream") -> None: ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO:
        """The file as a stream, read as it is consumed (never whole in memory)."""

    def size(self, key: str) -> int | None:
        """The file's size in bytes; None when there is no file."""

    def download_url(self, key: str, filename: str, expires_seconds: int = 300) -> str: ...

    def upload_url(self, key: str, content_type: str, expires_seconds: int) -> str:
        """A pre-signed URL a client PUTs the file to."""


class LaunchFailed(Exception):
    """The job's execution could not be started: why, in a few words fit for the job's output (the service's
    error code, never its message, which names the account, roles and resources behind it)."""


class Launcher(Protocol):
    def launch(self, job: Job) -> None:
        """Start the job's state machine; the execution is named after the job. Raises LaunchFailed."""

    def status(self, job: Job) -> str | None:
        """The status of the job's execution (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED), None if there is none."""


class References(Protocol):
    """What a job's args may refer to that the tenant keeps (a saved segment, a destination)."""

    def get(self, tenant: str, kind: str, item_id: str) -> dict[str, Any] | None: ...


class SavedItems(References, Protocol):
    """What a tenant keeps besides jobs (segments, destinations, ...), as JSON documents by kind and id."""

    def put(self, tenant: str, kind: str, item_id: str, body: dict[str, Any], *, new: bool, expires_in: int | None = None) -> None:
        """Store the item; with `new`, refuse (Conflict) an id that exists, else refuse (NotFound) one that does not.

        `expires_in`: seconds after which the store forgets it (history).
        """

    def update(self, tenant: str, kind: str, item_id: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any] | None:
        """Compare and set: `change` gets the stored body and answers the new one (None: leave it); applied only if
        nobody wrote the item meanwhile (else read again and retried). Answers what was written; NotFound if none."""

    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]: ...

    def delete(self, tenant: str, kind: str, item_id: str) -> bool:
        """Answers whether there was such an item."""


class Secrets(Protocol):
    """Credentials, kept apart from everything else and never shown."""

    def put(self, name: str, value: dict[str, str]) -> None: ...

    def get(self, name: str) -> dict[str, str]: ...

    def delete(self, name: str) -> None: ...


class Events(Protocol):
    """Where the engine tells the world a job ended (EventBridge `Job Ended`); mails and webhooks subscribe."""

    def job_ended(self, job: Job, view: dict[str, Any]) -> None: ...


class Leases(Protocol):
    """Single-flight: one holder of a lane at a time, until it releases or its lease expires."""

    def acquire(self, tenant: str, lane: str, holder: str, seconds: int) -> str | None:
        """Take the lane for `holder`; None when taken, else the holder that has it (not expired)."""

    def renew(self, tenant: str, lane: str, holder: str, seconds: int) -> bool: ...

    def release(self, tenant: str, lane: str, holder: str) -> None: ...
