"""What the OpenAPI document says beyond the routes themselves: the answers' shapes, the problems, enums.

Each route declares its real success answer (`ok`) and the problems it can give
(`problems`); `refine` then takes out of the generated document what Powertools adds
on its own and this API never answers (its JSON 422 "Validation Error": every
refusal here is an RFC 9457 problem).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import BaseModel, Field, WithJsonSchema

from ferry.core.lazy_model import LazyModel
from ferry.datatypes.registry import REGISTRY, SEED_004
from ferry.jobs.kinds import load_kinds
from ferry.jobs.model import JobStatus
from ferry.store.port import Action
from ferry_api.problems import PROBLEM_JSON
from ferry_api.views import seed002, seed004

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

JOB_KINDS_ENUM = [kind.name for kind in load_kinds()]
DATA_TYPES_ENUM = list(REGISTRY)
IMPORT_DATA_TYPES_ENUM = list(SEED_004)
ACTIONS_ENUM = [a.value for a in Action]
# The status words of the dialects, as their views map them.
IMPORT_STATUS_ENUM = list(dict.fromkeys(seed004._IMPORT_STATUS.values()))
API_JOB_STATUS_ENUM = [s.value for s in JobStatus if s not in seed002._STATUS]


def _enum(values: list[str], description: str | None = None) -> Any:
    return Field(json_schema_extra={"enum": values}, description=description)


class Documented(LazyModel):
    """A shape the OpenAPI document shows; built (~2 ms each) when the document is, never by a request."""


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


_PROBLEMS: dict[int, str] = {
    400: "Unreadable body: not JSON (the problem gives line and column), or not UTF-8",
    401: "No API key, or an unknown one",
    404: "No such job (or one of another tenant)",
    409: "The Idempotency-Key's first request is still being answered: retry in a moment",
    413: "Body over 6 MB: use POST /uploads",
    415: "Not JSON in UTF-8",
    422: "Readable but invalid: the problem names each field",
    500: "Something went wrong on our side; x-request-id identifies it in the logs",
    503: "AWS was briefly busy or unreachable, or the job could not be started: retry after Retry-After seconds (with the same Idempotency-Key)",
}


def problems(*statuses: int, **described: str) -> dict[int, dict[str, Any]]:
    """The problem responses of a route; `described` rewords some (`s409="..."`). 401, 500 and 503 are always there."""
    found = {int(k.removeprefix("s")): v for k, v in described.items()}
    answers = {}
    for status in sorted({401, 500, 503, *statuses}):
        answer: dict[str, Any] = {"description": found.get(status, _PROBLEMS[status]), "content": {PROBLEM_JSON: {"model": Problem}}}
        if status == 401:
            answer["headers"] = {"WWW-Authenticate": {"description": 'Bearer realm="ferry"', "schema": {"type": "string"}}}
        if status == 503:
            answer["headers"] = {"Retry-After": {"description": "Seconds to wait before sending the request again", "schema": {"type": "integer"}}}
        answers[status] = answer
    return answers


# Every problem a route could conceivably give: for a route not yet narrowed to its own (prefer `problems(...)`).
ERRORS = problems(400, 404, 409, 413, 415, 422)
# What a request with a JSON body can be refused for, before and while it is read.
BODY_PROBLEMS = (400, 413, 415, 422)
# What a POST that creates a job can be refused for besides (a key's first request still running; the start failed).
CREATE_PROBLEMS = (*BODY_PROBLEMS, 409, 503)

# --- Success answers -------------------------------------------------------------------------

_LOCATION = {"description": "Where to poll the job", "schema": {"type": "string"}}
_RETRY_AFTER = {"description": "Seconds to wait before polling again (while the job runs on)", "schema": {"type": "integer"}}
JOB_HEADERS = {"Location": _LOCATION, "Retry-After": _RETRY_AFTER}


def ok(description: str, model: type[BaseModel] | None = None, *, media_type: str = "application/json", schema: dict[str, Any] | None = None, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A success response: its description, and its body's model or schema (neither: no body)."""
    body = {"model": model} if model is not None else {"schema": schema} if schema is not None else None
    answer: dict[str, Any] = {"description": description, "content": {media_type: body} if body else {}}
    if headers:
        answer["headers"] = headers
    return answer


# --- Request parameters ----------------------------------------------------------------------

# Documents the header on the routes that create; its one check is `request.idempotency_key` (1 to 255 characters).
IdempotencyKey = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255}),
    Header(
        alias="Idempotency-Key",
        description="Any 1 to 255 characters of yours: a repeat with the same key and body answers what the first created; "
        "with another body 422; while the first is still being created 409. Kept 24 h.",
    ),
]

# --- Shapes of the answers (documentation: the views build them) ---------------------------


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


# --- The generated document, refined ---------------------------------------------------------

# Referrers before what they refer to.
_POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")
# Powertools lower-cases header parameters' names; the document spells them as the docs do.
_HEADER_NAMES = {"idempotency-key": "Idempotency-Key"}


def refine(document: OpenAPI) -> OpenAPI:
    """Take out Powertools' own 422 where a route gives none (its refusals are problems), and its unused schemas;
    sort each route's responses; spell header parameters as the docs do; declare every tag a route uses."""
    from aws_lambda_powertools.event_handler.openapi.models import Tag  # loaded with the document, never by a request

    document.tags = list(document.tags or [])
    for path_item in (document.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(path_item, method)
            if operation is None:
                continue
            for tag in operation.tags or []:
                if tag not in {t.name for t in document.tags}:
                    document.tags.append(Tag(name=tag))
            if not operation.responses:
                continue
            operation.responses = {s: r for s, r in sorted(operation.responses.items(), key=lambda sr: int(sr[0])) if not _is_powertools_validation_error(r)}
            for parameter in operation.parameters or []:
                if getattr(parameter, "in_", None) is not None and parameter.in_.value == "header":
                    parameter.name = _HEADER_NAMES.get(parameter.name, parameter.name)
    schemas = document.components.schemas if document.components else None
    for name in _POWERTOOLS_SCHEMAS if schemas else ():
        if name in schemas and f'"#/components/schemas/{name}"' not in document.model_dump_json(by_alias=True, exclude_none=True):
            del schemas[name]
    return document


def _is_powertools_validation_error(response: Any) -> bool:
    content = getattr(response, "content", None) or (response.get("content") if isinstance(response, dict) else None) or {}
    return PROBLEM_JSON not in content and "HTTPValidationError" in str(content)
