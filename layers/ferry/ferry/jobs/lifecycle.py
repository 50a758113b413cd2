"""The steps every kind's state machine shares: submit (from the console), start, fail, and ending cancelled.

Every step may run twice (Step Functions retries), so each one is idempotent.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from ferry.core import observability
from ferry.core.clock import Clock
from ferry.core.errors import Busy, FieldError, InvalidRequest, InvalidTransition, JobNotFound
from ferry.core.ids import ulid_of
from ferry.jobs import files
from ferry.jobs.kinds import kind_of
from ferry.jobs.model import MAX_OUTPUT_CHARS, Attachment, Job, JobStatus, bounded
from ferry.jobs.ports import Events, FileStore, JobStore, Leases
from ferry.jobs.resource import job_resource

# How long a claim to publish a job's end holds: far longer than a publish takes (the events client gives up
# within a minute), so a claim this old is one whose caller was killed, and the sweeper publishes in its stead.
# The price of a caller killed after publishing but before confirming is the same event once more, later, as
# EventBridge's own at-least-once delivery may also give: the scheduler ignores it, a procedure's mail goes twice.
ANNOUNCEMENT_CLAIM = timedelta(minutes=15)
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def announce_ended(jobs: JobStore, events: Events, tenant: str, job_id: str) -> bool:
    """Publish `Job Ended` for a job that has ended, once whatever the retries; answers whether it did now.

    Mails, webhooks and the history of scheduled exports hang on this event, and the job's
    metrics are counted with it, whoever ended the job: its execution, the sweeper, or the
    API when the launch failed.
    """
    job = jobs.get(tenant, job_id)
    if not job.status.ended or not jobs.claim_announcement(tenant, job_id, ANNOUNCEMENT_CLAIM):
        return False
    try:
        events.job_ended(job, job_resource(job))
    except BaseException:
        # Claimed first so that two callers (the state machine and the sweeper) do not both publish;
        # a publish that failed is released so that the retry publishes it.
        jobs.release_announcement(tenant, job_id)
        raise
    jobs.confirm_announcement(tenant, job_id)
    observability.job_ended(job, lambda: kind_of(job.type).state_machine)
    return True


class Lifecycle:
    def __init__(self, jobs: JobStore, files: FileStore, events: Events, leases: Leases, clock: Clock) -> None:
        self._jobs = jobs
        self._leases = leases
        self._files = files
        self._events = events
        self._clock = clock

    def announce(self, tenant: str, job_id: str) -> bool:
        """Publish `Job Ended` for a job that has ended, once whatever the retries; answers whether it did now."""
        return announce_ended(self._jobs, self._events, tenant, job_id)

    def submit(self, execution_name: str, request: dict[str, Any], started: datetime) -> dict[str, str]:
        """A run an operator started from the Step Functions console: `{"kind", "tenant", "args", "input"}`.

        `input` is the key of a file in the files bucket, or the rows themselves (a JSON
        array). The job is created here, so it shows in /jobs like any other; it answers
        the `job` the rest of the state machine works on. The job's id comes from the
        execution (its name and start), so a retried step finds the job it made before.
        """
        kind = kind_of(str(request.get("kind", "")))
        tenant = request.get("tenant")
        if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
            raise InvalidRequest("tenant must be a tenant id.", [FieldError("/tenant", "a tenant id")])
        args = kind.args(request.get("args") or {})
        job_id = ulid_of(int(started.timestamp() * 1000), f"{kind.name}:{execution_name}")
        answer = {"tenant": tenant, "id": job_id, "kind": kind.name}
        try:
            self._jobs.get(tenant, job_id)
            return answer  # a retry: the job was made by the attempt before
        except JobNotFound:
            pass
        if kind.lane is not None:
            # A scheduled or console run takes the lane as an API request would: refused while another holds it.
            # (Ours already, when this is a retry: leases are re-entrant for their holder.)
            holder = self._leases.acquire(tenant, kind.lane, job_id, kind.lease_seconds)
            if holder is not None:
                raise Busy(f"A previous {kind.name} job ({holder}) is still running; this run is skipped.", holder)
        try:
            attachment, input_key = self._console_input(tenant, job_id, request.get("input"))
            job = Job.pending(job_id, tenant, kind.name, args, self._clock.now(), attachment, input_key, execution_name)
            self._jobs.create(job)
        except Exception:
            if kind.lane is not None:
                self._leases.release(tenant, kind.lane, job_id)
            raise
        observability.job_submitted(job)
        return answer

    def _console_input(self, tenant: str, job_id: str, given: Any) -> tuple[Attachment | None, str | None]:
        if given is None:
            return None, None
        if isinstance(given, list):
            content = json.dumps(given, ensure_ascii=False).encode()
            key = files.input_key(tenant, job_id)
            self._files.put(key, content, "application/json")
            return Attachment("console-input.json", "application/json", len(content)), key
        if isinstance(given, str):
            size = self._files.size(given)
            if size is None:
                raise InvalidRequest(f"No file {given!r} in the files bucket.", [FieldError("/input", "no such file")])
            name = given.rsplit("/", 1)[-1]
            return Attachment(name, "text/csv" if name.lower().endswith(".csv") else "application/octet-stream", size), given
        raise InvalidRequest("input must be a key in the files bucket or an array of rows.", [FieldError("/input", "a key or an array")])

    def start(self, tenant: str, job_id: str) -> bool:
        """pending -> running. Answers False when the job was cancelled (or ended) before it started."""
        try:
            observability.job_started(self._jobs.transition(tenant, job_id, JobStatus.RUNNING, running_output="starting"))
            return True
        except InvalidTransition as exc:
            if exc.current == JobStatus.RUNNING.value:
                return True  # a retried start
            if exc.current == JobStatus.CANCELLING.value:
                self._jobs.transition(tenant, job_id, JobStatus.CANCELLED, output="Cancelled before it started.")
            return False

    def fail(self, tenant: str, job_id: str, step: str, reason: str) -> JobStatus:
        """End the job failed with the step and reason (or cancelled, if that was asked for)."""
        job = self._jobs.get(tenant, job_id)
        if job.status.ended:
            return job.status
        if job.status is JobStatus.CANCELLING:
            return self.end_cancelled(job, "Cancelled.")
        self._jobs.transition(tenant, job_id, JobStatus.FAILED, output=bounded(f"The {step} step failed: {reason}", MAX_OUTPUT_CHARS))
        observability.job_failed(job, step, reason)
        return JobStatus.FAILED

    def end_cancelled(self, job: Job, output: str, **fields: Any) -> JobStatus:
        self._jobs.transition(job.tenant, job.id, JobStatus.CANCELLED, output=bounded(output, MAX_OUTPUT_CHARS), **fields)
        return JobStatus.CANCELLED
