"""Jobs of every kind: the canonical `/jobs` and the seed-002 dialect `/api/jobs`, over the same service.

A dialect is its request model (the same here: seed 002's payload is the canonical
one) and its response mapper (ferry_api.views).
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import ConfigDict, Field, WithJsonSchema

from ferry.core.errors import FieldError, InvalidRequest, NotFound
from ferry.core.lazy_model import LazyModel
from ferry.imports.errors_csv import ERROR_COLUMNS
from ferry.jobs.kinds import kind_of, load_kinds
from ferry.jobs.model import Job, JobStatus
from ferry.jobs.service import NewAttachment, Submission
from ferry_api import request
from ferry_api.answers import json_answer, job_answer
from ferry_api.openapi import CREATE_PROBLEMS, JOB_HEADERS, JOB_KINDS_ENUM, IdempotencyKey, ok, problems
from ferry_api.paging import Cursor, list_answer
from ferry_api.request import MediaType
from ferry_api.runtime import runtime
from ferry.jobs.resource import job_resource
from ferry_api.views.seed002 import api_job

router = Router()

INLINE_RESPONSE_LIMIT = 5_000_000
# Seed 002 writes "www.example.com" for a URL: a bare host name (and path) means https.
_BARE_URL = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?(/\S*)?$")


class AttachmentIn(LazyModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, description="The file's name")
    mime_type: MediaType = "application/octet-stream"
    file: str = Field(
        min_length=1,
        description="The file: its content in base64, an http(s) URL Ferry downloads, or `upload:<id>` from POST /uploads",
    )


class JobRequest(LazyModel):
    """A job of any kind (GET /job-types lists them with the JSON Schema of their args)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [k.example for k in load_kinds() if k.example]})

    type: Annotated[str, Field(max_length=100, json_schema_extra={"enum": JOB_KINDS_ENUM})]
    args: dict[str, Any] = Field(default_factory=dict, description="As the type's args_schema (GET /job-types) says")
    attachment: AttachmentIn | None = None


def _new_attachment(given: AttachmentIn | None) -> NewAttachment | None:
    if given is None:
        return None
    file = given.file.strip()
    if file.startswith(("http://", "https://")):
        return NewAttachment(given.name, given.mime_type, url=file)
    if file.startswith("upload:"):
        return NewAttachment(given.name, given.mime_type, upload_id=file.removeprefix("upload:"))
    try:
        return NewAttachment(given.name, given.mime_type, content=base64.b64decode(file, validate=True))
    except (binascii.Error, ValueError):
        if _BARE_URL.match(file):
            return NewAttachment(given.name, given.mime_type, url=f"https://{file}")
        raise InvalidRequest(
            "attachment.file is neither base64 content, nor an http(s) URL, nor upload:<id>.",
            [FieldError("/attachment/file", "base64, a URL or upload:<id>")],
        ) from None


def _submit(job_request: JobRequest) -> tuple[Job, bool]:
    kind = kind_of(job_request.type)
    submission = Submission(
        tenant=request.tenant_of(router.current_event),
        kind=kind,
        args=kind.args(job_request.args),
        attachment=_new_attachment(job_request.attachment),
        idempotency_key=request.idempotency_key(router.current_event.headers),
    )
    return runtime.job_service.submit(submission)


def _listed(view: Callable[[Job], dict[str, Any]], path: str, limit: int, cursor: str | None, **criteria: Any) -> Response:
    jobs, next_cursor = runtime.job_service.list(request.tenant_of(router.current_event), limit=limit, cursor=cursor, **criteria)
    next_link = None
    if next_cursor:  # the next page keeps this one's filters
        next_link = f"{path}?" + urlencode(dict(router.current_event.query_string_parameters or {}, cursor=next_cursor, limit=str(limit)))
    return list_answer([view(j) for j in jobs], limit, next_link)


# The seeds' examples, one per job type, for Swagger UI's example list.
JOB_EXAMPLES = {k.name: {"summary": k.description, "value": k.example} for k in load_kinds() if k.example}
NewJob = Annotated[JobRequest, Body(openapi_examples=JOB_EXAMPLES)]
LIST_PROBLEMS = problems(400, 422, s400="A cursor this API did not give out (or another tenant's)", s422="A bad limit, status, type or date; the problem names it")
CREATE_JOB_PROBLEMS = problems(*CREATE_PROBLEMS)
CANCEL_PROBLEMS = problems(404, 409, s409="The job has already ended")
READ_PROBLEMS = problems(404)

Limit = Annotated[int, Query(ge=1, le=1000, description="Jobs per page")]
Status = Annotated[JobStatus | None, Query(description="Only jobs in this status")]
Type = Annotated[str | None, WithJsonSchema({"type": "string", "maxLength": 100, "enum": JOB_KINDS_ENUM}), Query(max_length=100, description="Only jobs of this type")]
CreatedAfter = Annotated[datetime | None, Query(description="Only jobs created at or after (RFC 3339)")]
CreatedBefore = Annotated[datetime | None, Query(description="Only jobs created at or before (RFC 3339)")]


@router.post(
    "/jobs",
    summary="Create a job",
    tags=["Jobs"],
    operation_id="createJob",
    responses={
        201: ok("The job, created", "Job", headers=JOB_HEADERS),
        200: ok("A repeat with the same Idempotency-Key and body: the job the first one created", "Job", headers=JOB_HEADERS),
        **CREATE_JOB_PROBLEMS,
    },
)
def create_job(job_request: NewJob, idempotency_key: IdempotencyKey = None):
    job, created = _submit(job_request)
    return job_answer(201 if created else 200, job_resource(job), job, f"/jobs/{job.id}")


@router.get("/jobs", summary="List jobs, newest first", tags=["Jobs"], operation_id="listJobs", responses={200: ok("A page of jobs", "JobPage"), **LIST_PROBLEMS})
def list_jobs(
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Status = None,
    type: Type = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
):
    return _listed(job_resource, "/jobs", limit, cursor, status=status, job_type=type, created_after=created_after, created_before=created_before)


@router.get("/jobs/<job_id>", summary="Read a job", tags=["Jobs"], operation_id="getJob", responses={200: ok("The job", "Job", headers=JOB_HEADERS), **READ_PROBLEMS})
def read_job(job_id: str):
    job = runtime.job_service.get(request.tenant_of(router.current_event), job_id)
    return job_answer(200, job_resource(job), job, f"/jobs/{job.id}")


@router.delete(
    "/jobs/<job_id>",
    summary="Cancel a job",
    tags=["Jobs"],
    operation_id="cancelJob",
    responses={202: ok("Marked for cancelling: it stops after the rows in progress", "CancelAccepted", headers={"Location": JOB_HEADERS["Location"]}), **CANCEL_PROBLEMS},
)
def cancel_job(job_id: str):
    runtime.job_service.cancel(request.tenant_of(router.current_event), job_id)
    return json_answer(202, {"status": True, "message": "Job has been marked for cancelling"}, {"Location": f"/jobs/{job_id}"})


@router.get(
    "/jobs/<job_id>/errors",
    summary="The job's rejected rows as a CSV to fix and import again",
    tags=["Jobs"],
    operation_id="getJobErrors",
    responses={
        200: ok("row, field, code, message, then the row's own fields; only the header line when no row was rejected", media_type="text/csv", schema={"type": "string"}),
        302: ok("A report over 5 MB: `Location` is its short-lived download URL", headers={"Location": {"description": "The report's download URL", "schema": {"type": "string"}}}),
        **READ_PROBLEMS,
    },
)
def job_errors(job_id: str):
    job = runtime.job_service.get(request.tenant_of(router.current_event), job_id)
    filename = f"{job.id}-errors.csv"
    if not job.errors_key:
        body = ",".join(ERROR_COLUMNS) + "\r\n"  # no row was rejected
        return Response(status_code=200, content_type="text/csv; charset=utf-8", body=body, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    size = runtime.files.size(job.errors_key) or 0
    if size > INLINE_RESPONSE_LIMIT:
        # Lambda answers at most 6 MB: a larger report is fetched straight from S3.
        return Response(status_code=302, headers={"Location": runtime.files.download_url(job.errors_key, filename)})
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=runtime.files.get(job.errors_key).decode("utf-8"),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/jobs/<job_id>/result",
    summary="The job's output file: a redirect to a short-lived download URL",
    tags=["Jobs"],
    operation_id="getJobResult",
    responses={302: ok("`Location` is the file's download URL, valid for 5 minutes"), **problems(404, s404="No such job, or it has no output file (yet)")},
)
def job_result(job_id: str):
    job = runtime.job_service.get(request.tenant_of(router.current_event), job_id)
    if not job.result_key:
        raise NotFound(f"Job {job.id} has no output file{'' if job.status.ended else ' yet'}.")
    filename = job.result_key.rsplit("/", 1)[-1]
    return Response(status_code=302, headers={"Location": runtime.files.download_url(job.result_key, filename)})


# Seed 002 (OpenCity): the same jobs, the seed's fields.


@router.post(
    "/api/jobs",
    summary="Create a job (seed 002)",
    tags=["Jobs (seed 002)"],
    operation_id="createApiJob",
    responses={
        201: ok("The job, created", "ApiJob", headers=JOB_HEADERS),
        200: ok("A repeat with the same Idempotency-Key and body: the job the first one created", "ApiJob", headers=JOB_HEADERS),
        **CREATE_JOB_PROBLEMS,
    },
)
def create_api_job(job_request: NewJob, idempotency_key: IdempotencyKey = None):
    job, created = _submit(job_request)
    return job_answer(201 if created else 200, api_job(job), job, f"/api/jobs/{job.id}")


@router.get("/api/jobs", summary="List jobs (seed 002)", tags=["Jobs (seed 002)"], operation_id="listApiJobs", responses={200: ok("A page of jobs", "ApiJobPage"), **LIST_PROBLEMS})
def list_api_jobs(limit: Limit = 50, cursor: Cursor = None, status: Status = None, type: Type = None):
    return _listed(api_job, "/api/jobs", limit, cursor, status=status, job_type=type)


@router.get("/api/jobs/<job_id>", summary="Read a job (seed 002)", tags=["Jobs (seed 002)"], operation_id="getApiJob", responses={200: ok("The job", "ApiJob", headers=JOB_HEADERS), **READ_PROBLEMS})
def read_api_job(job_id: str):
    job = runtime.job_service.get(request.tenant_of(router.current_event), job_id)
    return job_answer(200, api_job(job), job, f"/api/jobs/{job.id}")


@router.delete(
    "/api/jobs/<job_id>",
    summary="Cancel a job (seed 002)",
    tags=["Jobs (seed 002)"],
    operation_id="cancelApiJob",
    responses={202: ok("Marked for cancelling: it stops after the rows in progress", "CancelAccepted", headers={"Location": JOB_HEADERS["Location"]}), **CANCEL_PROBLEMS},
)
def cancel_api_job(job_id: str):
    runtime.job_service.cancel(request.tenant_of(router.current_event), job_id)
    return json_answer(202, {"status": True, "message": "Job has been marked for cancelling"}, {"Location": f"/api/jobs/{job_id}"})
