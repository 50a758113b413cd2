"""The steps of a procedure job, one per state of statemachines/procedure.asl.json.

start (the lease was taken when the job was submitted; the step renews it and answers
the parts) -> run_part, for each part in order (a composite's second part never starts
if the first failed) -> finish (the summary of every part; the lease released); fail
releases the lease too. A part renews the lease when it starts and as it reports, so a
long procedure keeps its lane and a crashed one loses it when the lease expires; a part
that finds another run holding the lane stops (LaneLost) rather than run beside it.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ferry.core import observability
from ferry.core.errors import InvalidTransition
from ferry.jobs.lifecycle import Lifecycle
from ferry.jobs.model import MAX_OUTPUT_CHARS, ChunkCounts, JobError, JobStatus, bounded, errors_for_job
from ferry.jobs.ports import JobStore, Leases
from ferry.procedures.catalogue import PROCEDURES, Outcome, Part, RunContext
from ferry.procedures.kinds import LANE, PROCEDURE_KIND

LEASE_SECONDS = PROCEDURE_KIND.lease_seconds  # a part renews it as it goes; a crashed run frees the lane after this
RENEW_EVERY_S = 60


class LaneLost(RuntimeError):
    """The run's lease expired and another procedure of the tenant took the lane: two must never run at once."""


class ProcedureRunner:
    def __init__(self, jobs: JobStore, leases: Leases, lifecycle: Lifecycle, parts: Mapping[str, Part]) -> None:
        self._jobs = jobs
        self._leases = leases
        self._lifecycle = lifecycle
        self._parts = parts  # part name -> its step code

    def start(self, tenant: str, job_id: str) -> dict[str, Any]:
        job = self._jobs.get(tenant, job_id)
        if self._leases.acquire(tenant, LANE, job_id, LEASE_SECONDS) is not None:
            # Another command holds the lane (a run started from the console while one ran).
            self._lifecycle.fail(tenant, job_id, "start", "another procedure of this tenant is still running")
            return {"proceed": False, "parts": []}
        proceed = self._lifecycle.start(tenant, job_id)
        if not proceed:
            self._leases.release(tenant, LANE, job_id)
        return {"proceed": proceed, "parts": list(PROCEDURES[job.args["procedure"]].parts)}

    def run_part(self, tenant: str, job_id: str, part: str) -> bool:
        """Run one part; False when the job was cancelled meanwhile, so it did nothing."""
        job = self._jobs.get(tenant, job_id)
        if job.status is not JobStatus.RUNNING:
            return False
        self._hold_lane(tenant, job_id)
        begun = renewed = time.monotonic()

        def report(text: str) -> None:
            nonlocal renewed
            self._jobs.set_running_output(tenant, job_id, f"{part}: {text}")
            if time.monotonic() - renewed >= RENEW_EVERY_S:
                self._hold_lane(tenant, job_id)
                renewed = time.monotonic()

        outcome: Outcome = self._parts[part](RunContext(tenant, job_id, job.args, report))
        done = sum(outcome.counts.values())
        self._jobs.set_details(tenant, job_id, {part: {"summary": outcome.summary, "counts": outcome.counts, "problems": outcome.problems[:20]}})
        index = PROCEDURES[job.args["procedure"]].parts.index(part)
        counts = ChunkCounts(done, done - outcome.failed, outcome.failed)
        # The part's summary stays in view until the next part reports or the job ends (its output then says it all).
        self._jobs.record_chunk(tenant, job_id, index, counts, f"{part}: {outcome.summary}")
        observability.part_done(job, part, counts, int((time.monotonic() - begun) * 1000))
        return True

    def _hold_lane(self, tenant: str, job_id: str) -> None:
        if not self._leases.renew(tenant, LANE, job_id, LEASE_SECONDS):
            raise LaneLost("This run lost the tenant's lane (its lease expired and another procedure took it); it stopped.")

    def finish(self, tenant: str, job_id: str) -> JobStatus:
        # The lane is let go before the job's end is written, not after: a client that reads the job ended and
        # starts the next command at once must not be refused naming it. The parts are done; only writing is left.
        self._leases.release(tenant, LANE, job_id)
        job = self._jobs.get(tenant, job_id)
        if job.status.ended:
            return job.status
        if job.status is JobStatus.CANCELLING:
            return self._lifecycle.end_cancelled(job, "Cancelled between parts.")
        parts = PROCEDURES[job.args["procedure"]].parts
        summary = " ".join(f"{p}: {job.details.get(p, {}).get('summary', 'not run')}" for p in parts)
        # What went wrong with some items (the first of each part), where a job's errors are shown; the mail names them too.
        problems = [JobError(p, problem) for p in parts for problem in job.details.get(p, {}).get("problems", [])]
        # What the parts did is the job's size: counts add up, as for any job.
        # Until the job ends (the next write), what a client polling it reads is the summary, not rows in chunks.
        self._jobs.set_plan(tenant, job_id, total=job.progress.processed, chunk_count=len(parts), running_output=bounded(summary, MAX_OUTPUT_CHARS))
        # As for any job, one whose items all failed (every image refused, every row) is failed, not finished.
        ended = JobStatus.FAILED if job.progress.processed and job.progress.succeeded == 0 else JobStatus.FINISHED
        try:
            self._jobs.transition(
                tenant, job_id, ended, output=bounded(summary, MAX_OUTPUT_CHARS), errors=errors_for_job(problems), error_count=job.progress.failed
            )
        except InvalidTransition as exc:
            if exc.current != JobStatus.CANCELLING.value:
                raise
            return self._lifecycle.end_cancelled(self._jobs.get(tenant, job_id), "Cancelled between parts.")
        if ended is JobStatus.FAILED:
            observability.job_failed(job, "finish", summary)
        return ended

    def fail(self, tenant: str, job_id: str, step: str, reason: str) -> JobStatus:
        self._leases.release(tenant, LANE, job_id)  # before the end is written, as in finish
        if step == "parts":
            # The Map says only that a part failed: it is the first that recorded nothing (a composite's parts run in order).
            job = self._jobs.get(tenant, job_id)
            failed = next((p for p in PROCEDURES[job.args["procedure"]].parts if p not in job.details), None)
            reason = f"{failed}: {reason}" if failed else reason
        return self._lifecycle.fail(tenant, job_id, step, reason)
