"""The shapes of the answers and of a problem, as the OpenAPI document shows them (the views build the answers).

Documentation only: loaded when /docs or /openapi.json first builds the document (openapi.refine
adds them to its components), never by a request. Routes name them (`ok("...", "Job")`).
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from ferry.jobs.model import JobStatus
from ferry_api.openapi import ACTIONS_ENUM, API_JOB_STATUS_ENUM, DATA_TYPES_ENUM, IMPORT_STATUS_ENUM, JOB_KINDS_ENUM


def _enum(values: list[str], description: str | None = None) -> Any:
    return Field(json_schema_extra={"enum": values}, description=description)


class Documented(BaseModel):
    """A shape the document shows."""


# --- Problems --------------------------------------------------------------------------------


class FieldProblem(Documented):
    pointer: str = Field(description="JSON pointer to the field at fault (`/query/limit`, `/headers/...` outside the body)")
    detail: str


class Problem(Documented):
    """RFC 9457 problem details: every refusal of this API."""

    type: str = Field(examples=["/problems/invalid-request"])
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldProblem] | None = None



# --- Answers -------------------------------------------------------------------------------


class JobErrorOut(Documented):
    code: str = Field(examples=["invalid_field"])
    message: str
    row: int | None = Field(default=None, description="The row in the input, from 1")
    field: str | None = Field(default=None, description="Dotted path inside the row")


class ProgressOut(Documented):
    total: int | None = Field(description="Rows in the input, once known")
    processed: int
    succeeded: int
    failed: int
    percent: float


class AttachmentOut(Documented):
    name: str
    mime_type: str
    size: int | None = None
    sha256: str | None = None
    url: str | None = None
    upload_id: str | None = None


class ResultOut(Documented):
    file: str
    link: str = Field(description="GET it for a short-lived download URL")


class MetricsOut(Documented):
    queued_ms: int | None
    run_ms: int | None


class Job(Documented):
    """The canonical job."""

    id: str
    type: Annotated[str, _enum(JOB_KINDS_ENUM)]
    status: JobStatus
    args: dict[str, Any]
    attachment: AttachmentOut | None
    progress: ProgressOut
    running_output: str | None = Field(description="What is being done now")
    output: str | None = Field(description="The final summary, or the failure's reason naming its step")
    errors: list[JobErrorOut] = Field(description="The first 100 errors; GET /jobs/{id}/errors has them all")
    error_count: int
    result: ResultOut | None = Field(description="The job's output file, once there is one (an export's zip)")
    created_at: str
    updated_at: str
    started_at: str | None
    terminated_at: str | None
    metrics: MetricsOut
    links: dict[str, str] = Field(examples=[{"self": "/jobs/01K...", "errors": "/jobs/01K.../errors"}])


class PageOut(Documented):
    limit: int
    count: int


class LinkOut(Documented):
    next: str | None = Field(default=None, description="The next page; absent on the last")


class JobPage(Documented):
    items: list[Job]
    page: PageOut
    link: LinkOut


class AttachmentNameOut(Documented):
    name: str
    mime_type: str


class ApiJob(Documented):
    """A job as seed 002 shows it."""

    attachment: AttachmentNameOut | None
    id: str
    type: Annotated[str, _enum(JOB_KINDS_ENUM)]
    status: Annotated[str, _enum(API_JOB_STATUS_ENUM, "A job being cancelled is `running` until it stops")]
    args: dict[str, Any]
    output: str | None
    running_output: str | None
    started_at: str | None
    terminated_at: str | None
    created_at: str
    updated_at: str


class ApiJobPage(Documented):
    items: list[ApiJob]
    page: PageOut
    link: LinkOut


class CancelAccepted(Documented):
    status: bool = Field(examples=[True])
    message: str = Field(examples=["Job has been marked for cancelling"])


class ImportAccepted(Documented):
    id: str = Field(description="The job's id: poll GET /import/{id}")


class ImportStatus(Documented):
    """A bulk import as seed 004 shows it."""

    id: str
    status: Annotated[str, _enum(IMPORT_STATUS_ENUM)]
    startedOnUtc: str | None
    completePercent: float
    completedOnUtc: str | None
    totalCount: int | None
    processedCount: int
    failedCount: int
    errors: list[JobErrorOut]


class DataTypeOut(Documented):
    dataType: Annotated[str, _enum(DATA_TYPES_ENUM)]
    actionTypes: list[Annotated[str, _enum(ACTIONS_ENUM)]]
    keyFields: list[str]
    setFields: list[str]
    description: str
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of a row")


class ImportTypes(Documented):
    items: list[DataTypeOut]


class JobTypeAttachment(Documented):
    rule: Annotated[str, _enum(["required", "none"])]
    media_types: list[str]


class JobTypeOut(Documented):
    type: Annotated[str, _enum(JOB_KINDS_ENUM)]
    description: str
    attachment: JobTypeAttachment
    args_schema: dict[str, Any]
    example: dict[str, Any]


class JobTypes(Documented):
    items: list[JobTypeOut]
    data_types: list[DataTypeOut]


class UploadOut(Documented):
    id: str
    file: str = Field(description="Name the file with this in a job's attachment", examples=["upload:01K..."])
    url: str = Field(description="PUT the file here")
    method: str = Field(examples=["PUT"])
    headers: dict[str, str] = Field(description="Send these with the PUT")
    expires_at: str
    max_bytes: int
