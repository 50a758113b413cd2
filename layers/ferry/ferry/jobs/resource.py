"""The canonical job of docs/api.md (`/jobs`): what the API answers and what a `Job Ended` event carries."""
from __future__ import annotations

from typing import Any

from ferry.core.clock import rfc3339
from ferry.jobs.model import Job, JobStatus, errors_for_job


def time_of(moment: Any) -> str | None:
    return rfc3339(moment) if moment else None


def attachment_of(job: Job) -> dict[str, Any] | None:
    """What is known of the job's file; never its bytes."""
    if job.attachment is None:
        return None
    return {k: v for k, v in vars(job.attachment).items() if v is not None}


def percent_of(job: Job) -> float:
    return 100.0 if job.status is JobStatus.FINISHED else job.progress.percent


def job_resource(job: Job) -> dict[str, Any]:
    """The canonical job of docs/api.md."""
    progress = job.progress
    return {
        "id": job.id,
        "type": job.type,
        "status": job.status.value,
        "args": job.args,
        "attachment": attachment_of(job),
        "progress": {
            "total": progress.total,
            "processed": progress.processed,
            "succeeded": progress.succeeded,
            "failed": progress.failed,
            "percent": percent_of(job),
        },
        "running_output": job.running_output,
        "output": job.output,
        "errors": errors_for_job(job.errors),
        "error_count": job.error_count,
        "result": {"file": job.result_key.rsplit("/", 1)[-1], "link": f"/jobs/{job.id}/result"} if job.result_key else None,
        "created_at": time_of(job.created_at),
        "updated_at": time_of(job.updated_at),
        "started_at": time_of(job.started_at),
        "terminated_at": time_of(job.terminated_at),
        "metrics": {"queued_ms": job.queued_ms, "run_ms": job.run_ms},
        "links": {"self": f"/jobs/{job.id}", **({"errors": f"/jobs/{job.id}/errors"} if job.errors_key else {})},
    }
