"""The bulk-import dialect of seed 004: `/import`."""
from __future__ import annotations

from typing import Any

from ferry.jobs.model import Job, JobStatus, errors_for_job
from ferry.jobs.resource import percent_of, time_of

# Seed 004 speaks its own status words.
_IMPORT_STATUS = {
    JobStatus.PENDING: "queued",
    JobStatus.RUNNING: "inProgress",
    JobStatus.CANCELLING: "inProgress",
    JobStatus.FINISHED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


def import_status(job: Job) -> dict[str, Any]:
    """GET /import/{id} as seed 004 shows it."""
    progress = job.progress
    return {
        "id": job.id,
        "status": _IMPORT_STATUS[job.status],
        "startedOnUtc": time_of(job.started_at),
        "completePercent": percent_of(job),
        "completedOnUtc": time_of(job.terminated_at),
        "totalCount": progress.total,
        "processedCount": progress.processed,
        "failedCount": progress.failed,
        "errors": errors_for_job(job.errors),
    }
