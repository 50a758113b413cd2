"""The sweeper: no job stays pending, running or cancelling once nothing runs it any more, nor ends untold.

A job's execution can end without the job ending: the execution was stopped by
hand, it timed out, MarkFailed itself kept failing, or the launch never happened
because the API crashed between storing the job and starting it. The sweeper asks,
for every unended job older than a grace period, whether its execution still runs;
when it does not (ended, or not found), the job ends failed with that reason, and
lets go of its kind's lane: a dead run's lease would refuse the next job, naming
this one as running, until it expired.

A job can also end without its `Job Ended` going out: EventBridge was out of reach
when the launch failed, or through all of a step's retries. Nothing else would
publish it, and a scheduled night's history, deactivation and mail, or a procedure's
mails, hang on it; so the sweeper publishes every such end (once: `announce` claims it first).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ferry.core import observability
from ferry.core.clock import Clock
from ferry.core.errors import InvalidTransition
from ferry.jobs.kinds import kind_of
from ferry.jobs.model import Job, JobStatus
from ferry.jobs.ports import Leases


class Executions(Protocol):
    def status(self, job: Job) -> str | None:
        """The status of the job's execution (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED), None if there is none."""


class JobsToSweep(Protocol):
    def unended(self, created_before: datetime) -> Iterable[Job]: ...

    def unannounced(self, created_before: datetime) -> Iterable[Job]: ...

    def transition(self, tenant: str, job_id: str, to: JobStatus, **fields: Any) -> Job: ...


@dataclass(frozen=True)
class Swept:
    job: Job
    reason: str


class Sweeper:
    def __init__(self, jobs: JobsToSweep, executions: Executions, leases: Leases, announce: Callable[[str, str], bool], clock: Clock) -> None:
        self._jobs = jobs
        self._executions = executions
        self._leases = leases
        self._announce = announce  # Lifecycle.announce: publishes a job's `Job Ended` once
        self._clock = clock

    def sweep(self, older_than: timedelta) -> list[Swept]:
        """End failed every job created more than `older_than` ago whose execution no longer runs; announce every untold end."""
        created_before = self._clock.now() - older_than
        swept = []
        for job in self._jobs.unended(created_before=created_before):
            status = self._executions.status(job)
            if status == "RUNNING":
                continue
            what = "was never started" if status is None else f"ended {status}"
            reason = f"The job's execution {what} while the job was still {job.status.value}; the sweeper ended it failed."
            try:
                self._jobs.transition(job.tenant, job.id, JobStatus.FAILED, output=reason)
            except InvalidTransition:
                continue  # it ended on its own meanwhile
            swept.append(Swept(job, reason))
            lane = kind_of(job.type).lane
            if lane is not None:
                try:
                    self._leases.release(job.tenant, lane, job.id)  # only if this job still holds it
                except Exception as exc:  # noqa: BLE001 - its lease expires on its own; the other jobs are still swept
                    observability.lease_kept(job, lane, f"{type(exc).__name__}: {exc}")
            self._tell(job)
        for job in self._jobs.unannounced(created_before=created_before):
            self._tell(job)
        return swept

    def _tell(self, job: Job) -> None:
        try:
            self._announce(job.tenant, job.id)
        except Exception as exc:  # noqa: BLE001 - still unannounced: the next sweep tries again; the other jobs are told now
            observability.announce_failed(job, f"{type(exc).__name__}: {exc}")
