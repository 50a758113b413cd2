"""The one layout of a job's files in the files bucket. Nothing else builds these keys."""
from __future__ import annotations

from ferry.jobs.model import Job


def in_tenant_files(tenant: str, key: str) -> bool:
    """Whether `key` is one of the tenant's files (under `<area>/<tenant>/`, no empty, `.` or `..` segment)."""
    segments = key.split("/")
    return len(segments) >= 3 and segments[1] == tenant and not {"", ".", ".."} & set(segments)


def input_key(tenant: str, job_id: str) -> str:
    """The job's input as it arrived (inline attachment, or fetched from its URL)."""
    return f"jobs/{tenant}/{job_id}/input"


def upload_key(tenant: str, upload_id: str) -> str:
    """A file a client PUT through a pre-signed URL of POST /uploads."""
    return f"uploads/{tenant}/{upload_id}"


def import_copy_key(tenant: str, job_id: str, position: int, name: str) -> str:
    """A file a procedure (ImportFiles) copied in from a server to import it; the position keeps apart two entries of one name."""
    return f"imports/{tenant}/{job_id}/{position}-{name}"


def manifest_key(job: Job) -> str:
    return f"jobs/{job.tenant}/{job.id}/manifest.json"


def chunk_key(job: Job, number: int) -> str:
    return f"jobs/{job.tenant}/{job.id}/chunks/{number:05d}.json"


def outcome_key(job: Job, number: int) -> str:
    return f"jobs/{job.tenant}/{job.id}/outcomes/{number:05d}.json"


def errors_key(job: Job) -> str:
    return f"jobs/{job.tenant}/{job.id}/errors.csv"


def result_key(job: Job, filename: str) -> str:
    return f"jobs/{job.tenant}/{job.id}/result/{filename}"
