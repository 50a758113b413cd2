"""The jobs dialect of seed 002 (OpenCity): `/api/jobs`, exactly the seed's fields."""
from __future__ import annotations

from typing import Any

from ferry.jobs.model import Job, JobStatus
from ferry.jobs.resource import time_of

# The seed knows no "cancelling": a job being cancelled is still running until it stops.
_STATUS = {JobStatus.CANCELLING: "running"}


def api_job(job: Job) -> dict[str, Any]:
    """GET /api/jobs/{id} as seed 002 shows it: the attachment without its file."""
    return {
        "attachment": {"name": job.attachment.name, "mime_type": job.attachment.mime_type} if job.attachment else None,
        "id": job.id,
        "type": job.type,
        "status": _STATUS.get(job.status, job.status.value),
        "args": job.args,
        "output": job.output,
        "running_output": job.running_output,
        "started_at": time_of(job.started_at),
        "terminated_at": time_of(job.terminated_at),
        "created_at": time_of(job.created_at),
        "updated_at": time_of(job.updated_at),
    }
