"""What the API asks of the engine, whatever the kind and the dialect: submit, read, list, cancel, uploads."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ferry.core import observability
from ferry.core.clock import Clock
from ferry.core.errors import Busy, Conflict, FieldError, InvalidRequest, InvalidTransition, JobNotFound, ServiceUnavailable, shown
from ferry.core.ids import new_ulid
from ferry.jobs import files
from ferry.jobs.kinds import AttachmentRule, JobKind, kind_of
from ferry.jobs.model import MAX_OUTPUT_CHARS, Attachment, Job, JobStatus, bounded
from ferry.jobs.idempotent import create_once, request_hash
from ferry.jobs.lifecycle import announce_ended
from ferry.jobs.ports import Events, FileStore, IdempotencyStore, JobStore, LaunchFailed, Launcher, Leases, References

MAX_UPLOAD_BYTES = 5 * 1024**3  # S3's limit for one PUT
UPLOAD_URL_SECONDS = 15 * 60


@dataclass(frozen=True)
class NewAttachment:
    """The file of a submission: its content inline, or an upload to take, or a URL the worker fetches."""

    name: str
    mime_type: str
    content: bytes | None = None
    upload_id: str | None = None
    url: str | None = None
    key: str | None = None  # a file already in the files bucket (a procedure's ImportFiles)
    # What the content is, where the same content may come as other bytes (seed 004's rows: JSON members in any
    # order): an Idempotency-Key's repeat is told apart by this rather than by the bytes.
    identity: str | None = None


@dataclass(frozen=True)
class Submission:
    tenant: str
    kind: JobKind
    args: dict[str, Any]  # already checked by kind.args()
    attachment: NewAttachment | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Upload:
    id: str
    url: str  # PUT the file here
    expires_at: datetime
    headers: dict[str, str]  # to send with the PUT


class JobService:
    def __init__(
        self,
        jobs: JobStore,
        files: FileStore,
        launcher: Launcher,
        events: Events,
        idempotency: IdempotencyStore,
        references: References,
        leases: Leases,
        clock: Clock,
    ) -> None:
        self._jobs = jobs
        self._leases = leases
        self._references = references
        self._files = files
        self._launcher = launcher
        self._events = events
        self._idempotency = idempotency
        self._clock = clock

    def submit(self, submission: Submission) -> tuple[Job, bool]:
        """Store the job and start it. Answers the job and whether this call created it."""
        _check_attachment(submission)
        if submission.kind.check_references is not None:
            submission.kind.check_references(submission.tenant, submission.args, self._references)
        now = self._clock.now()
        tenant = submission.tenant
        job, created = create_once(
            self._idempotency,
            tenant,
            submission.idempotency_key,
            _fingerprint(submission),
            new_ulid(int(now.timestamp() * 1000)),
            lambda job_id: self._create_and_launch(submission, job_id, now),
            lambda job_id: self._jobs.get(tenant, job_id),
        )
        if created:
            observability.job_submitted(job)
        return job, created

    def _create_and_launch(self, submission: Submission, job_id: str, now: datetime) -> Job:
        lane = submission.kind.lane
        if lane is not None:
            holder = self._leases.acquire(submission.tenant, lane, job_id, submission.kind.lease_seconds)
            if holder is not None:
                raise Busy(f"A previous {submission.kind.name} job ({holder}) is still running.", holder)
        try:
            return self._store_and_launch(submission, job_id, now)
        except Exception:
            if lane is not None:
                self._leases.release(submission.tenant, lane, job_id)
            raise

    def _store_and_launch(self, submission: Submission, job_id: str, now: datetime) -> Job:
        attachment, input_key = self._store_attachment(submission, job_id)
        job = Job.pending(job_id, submission.tenant, submission.kind.name, submission.args, now, attachment, input_key)
        self._jobs.create(job)
        try:
            self._launcher.launch(job)
        except Exception as exc:
            # The tenant reads the job's output: the error's code only; the log has the whole of it.
            why = str(exc) if isinstance(exc, LaunchFailed) else type(exc).__name__
            failed = self._jobs.transition(job.tenant, job.id, JobStatus.FAILED, output=bounded(f"The launch step failed: {why}", MAX_OUTPUT_CHARS))
            cause = exc.__cause__ or exc
            observability.job_failed(failed, "launch", f"{why}: {type(cause).__name__}: {cause}")
            # No execution will announce it: its subscribers (mails, a schedule's history) hear of it here.
            try:
                announce_ended(self._jobs, self._events, job.tenant, job.id)
            except Exception as announce_exc:  # the caller's answer is the 503 either way; the sweeper announces it later
                observability.announce_failed(failed, f"{type(announce_exc).__name__}: {announce_exc}")
            raise ServiceUnavailable("The job could not be started; please retry.") from exc
        return job

    def _store_attachment(self, submission: Submission, job_id: str) -> tuple[Attachment | None, str | None]:
        new = submission.attachment
        if new is None:
            return None, None
        if new.content is not None:
            key = files.input_key(submission.tenant, job_id)
            self._files.put(key, new.content, new.mime_type)
            return Attachment(new.name, new.mime_type, len(new.content), hashlib.sha256(new.content).hexdigest()), key
        if new.upload_id is not None or new.key is not None:
            key = new.key or files.upload_key(submission.tenant, new.upload_id)
            size = self._files.size(key)
            if size is None:
                if new.upload_id is not None:
                    what = f"upload {shown(new.upload_id)}: POST /uploads, PUT the file to the URL it answers, then refer to it"
                else:
                    what = f"file {key!r}"
                raise InvalidRequest(f"There is no {what}.", [FieldError("/attachment/file", "unknown file")])
            if size > MAX_UPLOAD_BYTES:
                raise InvalidRequest(f"The upload has {size} bytes; at most {MAX_UPLOAD_BYTES} are taken.", [FieldError("/attachment/file", "too large")])
            return Attachment(new.name, new.mime_type, size, upload_id=new.upload_id), key
        # A URL is fetched by the worker: the request never waits on someone else's server.
        return Attachment(new.name, new.mime_type, url=new.url), None

    def new_upload(self, tenant: str, mime_type: str) -> Upload:
        """A pre-signed PUT for one large file; refer to it as `upload:<id>` in a job's attachment."""
        now = self._clock.now()
        upload_id = new_ulid(int(now.timestamp() * 1000))
        url = self._files.upload_url(files.upload_key(tenant, upload_id), mime_type, UPLOAD_URL_SECONDS)
        return Upload(upload_id, url, now + timedelta(seconds=UPLOAD_URL_SECONDS), {"Content-Type": mime_type})

    def get(self, tenant: str, job_id: str) -> Job:
        return self._jobs.get(tenant, job_id)

    def list(self, tenant: str, **criteria: Any) -> tuple[list[Job], str | None]:
        if criteria.get("job_type") is not None:
            kind_of(criteria["job_type"], "/query/type")  # a typo would otherwise list nothing, silently
        return self._jobs.list(tenant, **criteria)

    def cancel(self, tenant: str, job_id: str) -> Job:
        """Mark a pending or running job for cancelling; the worker stops it between chunks.

        A job already cancelling is answered as it is: a client retrying its cancel (its first answer lost)
        asked for what is under way. Only an ended job is a Conflict.
        """
        try:
            return self._jobs.transition(tenant, job_id, JobStatus.CANCELLING)
        except InvalidTransition as exc:
            if exc.current is None:
                raise JobNotFound(job_id) from exc
            if exc.current == JobStatus.CANCELLING.value:
                return self._jobs.get(tenant, job_id)
            raise Conflict(f"Job {job_id} is {exc.current}; only pending or running jobs can be cancelled.") from exc


def _check_attachment(submission: Submission) -> None:
    kind, new = submission.kind, submission.attachment
    if kind.attachment is AttachmentRule.REQUIRED and new is None:
        media = " or ".join(kind.media_types) or "a file"
        raise InvalidRequest(f"A {kind.name} job needs an attachment ({media}).", [FieldError("/attachment", "required")])
    if kind.attachment is AttachmentRule.NONE and new is not None:
        raise InvalidRequest(f"A {kind.name} job takes no attachment.", [FieldError("/attachment", "not allowed")])
    if new is not None and new.url is not None:
        try:
            netloc = urlsplit(new.url).netloc
        except ValueError as exc:  # a bracketed host that is no IPv6 address
            raise InvalidRequest(f"attachment.file is not a URL that can be fetched: {exc}.", [FieldError("/attachment/file", "not a valid URL")]) from None
        if "@" in netloc:
            # The worker would refuse it anyway; refused now, the password is neither stored nor shown in the job.
            raise InvalidRequest(
                "attachment.file is a URL with a user name or password in it: refused; give a URL that needs none, or upload the file.",
                [FieldError("/attachment/file", "no user name or password in the URL")],
            )
    if new is not None and new.content is not None and kind.check_inline is not None:
        kind.check_inline(new.content)


def _fingerprint(submission: Submission) -> str:
    """What the submission asks for (args as JSON with sorted members: their order means nothing)."""
    new = submission.attachment
    content = None if new is None or new.content is None else new.identity or hashlib.sha256(new.content).hexdigest()
    file = None if new is None else [new.name, new.upload_id, new.url, new.key, content]
    return request_hash(submission.kind.name, submission.args, file)
