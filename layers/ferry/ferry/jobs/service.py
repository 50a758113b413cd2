"""Submitting and cancelling jobs: what the API asks of the domain, whatever the dialect."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ferry.core.clock import Clock
from ferry.core.errors import Conflict, InvalidTransition, JobNotFound, ServiceUnavailable
from ferry.files import FileStore
from ferry.idempotency import IdempotencyRecords
from ferry.core.ids import new_ulid
from ferry.jobs.model import Attachment, Job, JobStatus
from ferry.jobs.repository import JobRepository
from ferry.launcher import JobLauncher


@dataclass(frozen=True)
class Submission:
    tenant: str
    type: str
    args: dict[str, Any]
    input: bytes  # what the worker reads: for imports, a JSON array of rows
    attachment: Attachment | None = None
    idempotency_key: str | None = None


def input_key(tenant: str, job_id: str) -> str:
    return f"jobs/{tenant}/{job_id}/input.json"


class JobService:
    def __init__(
        self,
        repository: JobRepository,
        files: FileStore,
        launcher: JobLauncher,
        idempotency: IdempotencyRecords,
        clock: Clock,
    ) -> None:
        self._jobs = repository
        self._files = files
        self._launcher = launcher
        self._idempotency = idempotency
        self._clock = clock

    def submit(self, submission: Submission) -> tuple[Job, bool]:
        """Store the job and start it. Answers the job and whether this call created it.

        The caller has validated the submission: nothing here refuses content.
        """
        now = self._clock.now()
        job_id = new_ulid(int(now.timestamp() * 1000))
        key = submission.idempotency_key
        if key is not None:
            claim = self._idempotency.claim(submission.tenant, key, _fingerprint(submission), job_id)
            if claim.job_id is not None:
                return self._jobs.get(submission.tenant, claim.job_id), False
            if claim.abandoned_job_id is not None:
                # A request with this key crashed after claiming it; if it stored its job, that job is the answer.
                try:
                    job = self._jobs.get(submission.tenant, claim.abandoned_job_id)
                except JobNotFound:
                    pass
                else:
                    self._idempotency.complete(submission.tenant, key, job.id)
                    return job, False
        try:
            job = self._create_and_launch(submission, job_id, now)
        except Exception:
            if key is not None:
                self._idempotency.release(submission.tenant, key)
            raise
        if key is not None:
            self._idempotency.complete(submission.tenant, key, job.id)
        return job, True

    def _create_and_launch(self, submission: Submission, job_id: str, now: datetime) -> Job:
        job = Job(
            id=job_id,
            tenant=submission.tenant,
            type=submission.type,
            status=JobStatus.PENDING,
            args=submission.args,
            created_at=now,
            updated_at=now,
            attachment=submission.attachment,
            input_key=input_key(submission.tenant, job_id),
        )
        self._files.put(job.input_key, submission.input, "application/json")
        self._jobs.create(job)
        try:
            self._launcher.launch(job.tenant, job.id)
        except Exception as exc:
            self._jobs.transition(job.tenant, job.id, JobStatus.FAILED, output="The job could not be started.")
            raise ServiceUnavailable("The job could not be started; please retry.") from exc
        return job

    def get(self, tenant: str, job_id: str) -> Job:
        return self._jobs.get(tenant, job_id)

    def list(self, tenant: str, **criteria: Any) -> tuple[list[Job], str | None]:
        return self._jobs.list(tenant, **criteria)

    def cancel(self, tenant: str, job_id: str) -> Job:
        """Mark a pending or running job for cancelling; the worker stops it between chunks."""
        try:
            return self._jobs.transition(tenant, job_id, JobStatus.CANCELLING)
        except InvalidTransition as exc:
            if exc.current is None:
                raise JobNotFound(job_id) from exc
            raise Conflict(f"Job {job_id} is {exc.current}; only pending or running jobs can be cancelled.") from exc


def _fingerprint(submission: Submission) -> str:
    digest = hashlib.sha256()
    for part in (submission.type, repr(sorted(submission.args.items())), submission.attachment and submission.attachment.name):
        digest.update(str(part).encode())
        digest.update(b"\x00")
    digest.update(submission.input)
    return digest.hexdigest()
