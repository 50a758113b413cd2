"""How a job looks in each dialect. All of them read the same canonical job."""
from __future__ import annotations

from typing import Any

from ferry.core.clock import rfc3339
from ferry.jobs.model import Job, JobStatus, errors_for_job


def _time(moment: Any) -> str | None:
    return rfc3339(moment) if moment else None


def job_resource(job: Job) -> dict[str, Any]:
    """The canonical job of docs/api.md."""
    progress = job.progress
    return {
        "id": job.id,
        "type": job.type,
        "status": job.status.value,
        "args": job.args,
        "attachment": vars(job.attachment) if job.attachment else None,
        "progress": {
            "total": progress.total,
            "processed": progress.processed,
            "succeeded": progress.succeeded,
            "failed": progress.failed,
            "percent": 100.0 if job.status is JobStatus.FINISHED else progress.percent,
        },
        "running_output": job.running_output,
        "output": job.output,
        "errors": errors_for_job(job.errors),
        "error_count": job.error_count,
        "result": None,
        "created_at": _time(job.created_at),
        "updated_at": _time(job.updated_at),
        "started_at": _time(job.started_at),
        "terminated_at": _time(job.terminated_at),
        "metrics": {"queued_ms": job.queued_ms, "run_ms": job.run_ms},
        "links": {"self": f"/jobs/{job.id}", **({"errors": f"/jobs/{job.id}/errors"} if job.errors_key else {})},
    }


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
        "startedOnUtc": _time(job.started_at),
        "completePercent": 100.0 if job.status is JobStatus.FINISHED else progress.percent,
        "completedOnUtc": _time(job.terminated_at),
        "totalCount": progress.total,
        "processedCount": progress.processed,
        "failedCount": progress.failed,
        "errors": errors_for_job(job.errors),
    }
