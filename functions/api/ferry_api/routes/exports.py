"""The export-jobs dialect of seed 001: `/export/jobs`, export_csv jobs in the seed's words."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import ConfigDict, Field

from ferry.core.errors import FieldError, InvalidRequest, JobNotFound
from ferry.core.lazy_model import LazyModel
from ferry.exports.kinds import EXPORT
from ferry.jobs.model import Job
from ferry.jobs.service import Submission
from ferry_api import request
from ferry_api.answers import json_answer, job_answer
from ferry_api.openapi import BODY_PROBLEMS, IdempotencyKey, ok, problems
from ferry_api.runtime import runtime
from ferry_api.views.seed001 import STATUSES_OF, export_job

router = Router()
TAG = "Export jobs (seed 001)"
MESSAGE_CANCELLING = "Export job has been marked for cancelling"


class SegmentRef(LazyModel):
    model_config = ConfigDict(extra="ignore")  # segmentNs and status mean nothing here

    segmentId: str = Field(min_length=1, max_length=100)


class ExportFilter(LazyModel):
    # Any other member is refused: a filter that is not applied would export what the client did not ask for.
    model_config = ConfigDict(extra="forbid")

    segments: list[SegmentRef] = Field(default_factory=list, max_length=20)
    fromIngestTimestamp: datetime | None = None
    # Seed 001's, accepted as its clients send them; no meaning here (no segment qualification, no profiles).
    segmentQualificationTime: dict[str, Any] | None = None
    emptyProfiles: bool | None = None


class SchemaRef(LazyModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, description="The data type")


class DestinationRef(LazyModel):
    model_config = ConfigDict(extra="ignore")

    datasetId: str | None = Field(default=None, max_length=100, description="A destination's id (POST /destinations); none: the files bucket")


_EXPORT_EXAMPLE = {
    "fields": "vendorId,name,location.settlement",
    "filter": {"fromIngestTimestamp": "2026-11-01T00:00:00Z"},
    "schema": {"name": "Customers"},
}


class ExportJobRequest(LazyModel):
    """Seed 001's export job; `mergePolicy` and `additionalFields` are accepted and mean nothing here."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [_EXPORT_EXAMPLE]
        },
    )

    fields: str = Field(default="", max_length=20_000, description="Comma-separated field paths; empty: every field")
    schema_: SchemaRef = Field(alias="schema")
    filter: ExportFilter = Field(default_factory=ExportFilter)
    destination: DestinationRef = Field(default_factory=DestinationRef)
    mergePolicy: dict[str, Any] | None = None
    additionalFields: dict[str, Any] | None = None


@router.post("/export/jobs", summary="Create an export job (seed 001)", tags=[TAG], operation_id="createExportJob", responses={200: ok("The export job", schema={"type": "object"}), **problems(*BODY_PROBLEMS, 409, 503)})
def create_export_job(
    export_request: Annotated[ExportJobRequest, Body(openapi_examples={"customers": {"summary": "Three columns of the Customers changed since 1 November", "value": _EXPORT_EXAMPLE}})],
    idempotency_key: IdempotencyKey = None,
):
    raw = {
        "dataType": export_request.schema_.name,
        "fields": _field_list(export_request.fields),
        "segments": [s.segmentId for s in export_request.filter.segments],
    }
    if export_request.filter.fromIngestTimestamp is not None:
        raw["changedSince"] = export_request.filter.fromIngestTimestamp
    if export_request.destination.datasetId:
        raw["destinationId"] = export_request.destination.datasetId
    try:
        submission = Submission(
            tenant=request.tenant_of(router.current_event),
            kind=EXPORT,
            args=EXPORT.args(raw),
            idempotency_key=request.idempotency_key(router.current_event.headers),
        )
        job, _ = runtime.job_service.submit(submission)
    except InvalidRequest as exc:
        # The same refusal (a reused Idempotency-Key stays one), its pointers into the seed's body.
        exc.errors = [FieldError(_seed_pointer(e.pointer), e.message) for e in exc.errors]
        raise
    return job_answer(200, export_job(job), job, f"/export/jobs/{job.id}")


def _field_list(fields: str) -> list[str]:
    """Seed 001's comma-separated `fields`; empty (or blank): every field."""
    if not fields.strip():
        return []
    names = [f.strip() for f in fields.split(",")]
    if "" in names:
        raise InvalidRequest("fields names an empty field (two commas in a row, or one at an end).", [FieldError("/fields", "field names separated by commas")])
    return names


_SEED_POINTERS = {"/args/dataType": "/schema/name", "/args/changedSince": "/filter/fromIngestTimestamp", "/args/destinationId": "/destination/datasetId"}


def _seed_pointer(pointer: str) -> str:
    """The canonical args' pointer as a place in seed 001's body, so a refusal names what the client sent."""
    if pointer in _SEED_POINTERS:
        return _SEED_POINTERS[pointer]
    if pointer.startswith("/args/fields"):
        return "/fields"
    if pointer.startswith("/args/segments"):
        return "/filter/segments" + pointer.removeprefix("/args/segments")
    return pointer


@router.get("/export/jobs", summary="List export jobs (seed 001)", tags=[TAG], operation_id="listExportJobs", responses={200: ok("`records`, `page`, `link.next`", schema={"type": "object"}), **problems(422)})
def list_export_jobs(
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    status: Annotated[Literal["NEW", "PROCESSING", "SUCCEEDED", "FAILED", "CANCELLED"] | None, Query()] = None,
):
    tenant = request.tenant_of(router.current_event)
    wanted = STATUSES_OF[status] if status else [None]
    found = []
    for job_status in wanted:
        # Offset paging over newest-first pages: read what the offset skips, then the page.
        jobs, _ = runtime.job_service.list(tenant, status=job_status, job_type=EXPORT.name, limit=min(offset + limit + 1, 1000))
        found.extend(jobs)
    found.sort(key=lambda j: j.id, reverse=True)
    page = found[offset : offset + limit]
    body: dict[str, Any] = {
        "records": [export_job(j) for j in page],
        "page": {"sortField": "createdTime", "sort": "desc", "pageOffset": offset, "pageSize": len(page)},
        "link": {},
    }
    if len(found) > offset + limit:
        query = {"limit": limit, "offset": offset + limit, **({"status": status} if status else {})}
        body["link"]["next"] = "/export/jobs?" + urlencode(query)
    return json_answer(200, body)


@router.get("/export/jobs/<job_id>", summary="Read an export job (seed 001)", tags=[TAG], operation_id="getExportJob", responses={200: ok("The export job", schema={"type": "object"}), **problems(404)})
def read_export_job(job_id: str):
    job = _export_job(job_id)
    return job_answer(200, export_job(job), job, f"/export/jobs/{job.id}")


def _export_job(job_id: str) -> Job:
    """The tenant's export job of that id; any other job is not one of this dialect's (404)."""
    job = runtime.job_service.get(request.tenant_of(router.current_event), job_id)
    if job.type != EXPORT.name:
        raise JobNotFound(job_id)
    return job


@router.delete("/export/jobs/<job_id>", summary="Cancel an export job (seed 001)", tags=[TAG], operation_id="cancelExportJob", responses={200: ok("Marked for cancelling", schema={"type": "object"}), **problems(404, 409)})
def cancel_export_job(job_id: str):
    _export_job(job_id)
    runtime.job_service.cancel(request.tenant_of(router.current_event), job_id)
    return json_answer(200, {"status": True, "message": MESSAGE_CANCELLING})
