"""API Gateway HTTP API -> Ferry. Parse, call the domain, map the result; nothing heavier.

Routes (docs/api.md): the canonical /jobs, the seed-004 /import dialect, /job-types,
/openapi.json and the Swagger UI at /docs.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ferry.datatypes.registry import describe
from ferry.core.errors import FerryError, FieldError, InvalidRequest
from ferry.imports.submission import (
    IMPORT_JOB_TYPE,
    ImportArgs,
    check_import_pair,
    encode_rows,
    parse_json,
    rows_of,
)
from ferry.jobs.model import Attachment, JobStatus
from ferry.jobs.service import Submission
from ferry.core.observability import logger, metrics, tracer
from ferry.runtime import Runtime
from ferry.core.settings import Settings
from ferry_api import problems, request
from ferry_api.views import import_status, job_resource

# Settings are checked at cold start; AWS clients are made on first use, keeping the import light.
runtime = Runtime(Settings.from_env(os.environ))

INLINE_RESPONSE_LIMIT = 5_000_000

app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=request.strict_json)
app.enable_swagger(path="/docs", title="Ferry", version="1.0", description="Asynchronous import/export jobs.")
problems.register(app)


class ImportRequest(BaseModel):
    """Seed 004: a bulk import of rows of one data type."""

    model_config = ConfigDict(extra="forbid")

    dataType: str = Field(description="One of GET /import/types")
    actionType: str = Field(description="Create, Update, CreateOrUpdate or Replace, as the data type allows")
    data: list[Any] = Field(description="The rows, each an object of the data type's model")


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    mime_type: str = Field(default="application/json")
    file: str = Field(min_length=1, description="The file's content, base64-encoded")


class JobRequest(BaseModel):
    """A canonical job. For `import_json`, args are {dataType, actionType} and the attachment is a JSON array of rows."""

    model_config = ConfigDict(extra="forbid")

    type: str
    args: dict[str, Any] = Field(default_factory=dict)
    attachment: AttachmentIn | None = None


def _tenant() -> str:
    return request.tenant_of(app.current_event)


def _idempotency_key() -> str | None:
    return request.idempotency_key(app.current_event.headers)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


@app.post("/import", summary="Start a bulk import (seed 004)")
def create_import(request: Annotated[ImportRequest, Body()]):
    tenant = _tenant()
    data_type, action = check_import_pair(request.dataType, request.actionType)
    job, _ = runtime.job_service.submit(
        Submission(
            tenant=tenant,
            type=IMPORT_JOB_TYPE,
            args={"dataType": data_type.name, "actionType": action.value},
            input=encode_rows(request.data),
            idempotency_key=_idempotency_key(),
        )
    )
    metrics.add_metric(name="ImportsSubmitted", unit="Count", value=1)
    return _json(202, {"id": job.id}, {"Location": f"/import/{job.id}"})


@app.get("/import/types", summary="The data types an import accepts and their actions")
def list_import_types():
    _tenant()
    return _json(200, {"items": describe()})


@app.get("/import/<job_id>", summary="Status of a bulk import (seed 004)")
def read_import(job_id: str):
    return _json(200, import_status(runtime.job_service.get(_tenant(), job_id)))


@app.post("/jobs", summary="Create a job")
def create_job(request: Annotated[JobRequest, Body()]):
    tenant = _tenant()
    if request.type != IMPORT_JOB_TYPE:
        raise InvalidRequest(f"Unknown job type {request.type!r}; GET /job-types lists them.", [FieldError("/type", f"one of: {IMPORT_JOB_TYPE}")])
    args = _import_args(request.args)
    if request.attachment is None:
        raise InvalidRequest("An import_json job needs an attachment: a JSON array of rows.", [FieldError("/attachment", "required")])
    content = _decode_attachment(request.attachment.file)
    rows = rows_of(parse_json(content, "The attachment", "/attachment/file"), "/attachment/file")
    job, created = runtime.job_service.submit(
        Submission(
            tenant=tenant,
            type=request.type,
            args=args.model_dump(),
            input=encode_rows(rows),
            attachment=Attachment(
                name=request.attachment.name,
                mime_type=request.attachment.mime_type,
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            ),
            idempotency_key=_idempotency_key(),
        )
    )
    return _json(201 if created else 200, job_resource(job), {"Location": f"/jobs/{job.id}"})


def _import_args(args: dict[str, Any]) -> ImportArgs:
    try:
        requested = ImportArgs.model_validate(args)
    except ValidationError as exc:
        pointers = [FieldError("/args" + "".join(f"/{p}" for p in e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidRequest("args must be {dataType, actionType}.", pointers) from exc
    data_type, action = check_import_pair(requested.dataType, requested.actionType, "/args")
    return ImportArgs(dataType=data_type.name, actionType=action.value)


def _decode_attachment(file: str) -> bytes:
    if file.startswith(("http://", "https://", "upload:")):
        raise InvalidRequest("Only base64 attachments are accepted so far.", [FieldError("/attachment/file", "must be base64 content")])
    try:
        return base64.b64decode(file, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest("attachment.file is not valid base64.", [FieldError("/attachment/file", "not base64")]) from exc


@app.get("/jobs", summary="List jobs, newest first")
def list_jobs(
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query()] = None,
    status: Annotated[JobStatus | None, Query()] = None,
    type: Annotated[str | None, Query()] = None,
    created_after: Annotated[datetime | None, Query()] = None,
    created_before: Annotated[datetime | None, Query()] = None,
):
    jobs, next_cursor = runtime.job_service.list(
        _tenant(),
        status=status,
        job_type=type,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        cursor=cursor,
    )
    body: dict[str, Any] = {"items": [job_resource(j) for j in jobs], "page": {"limit": limit, "count": len(jobs)}, "link": {}}
    if next_cursor:
        query = dict(app.current_event.query_string_parameters or {}, cursor=next_cursor, limit=str(limit))
        body["link"]["next"] = "/jobs?" + urlencode(query)
    return _json(200, body)


@app.get("/jobs/<job_id>", summary="Read a job")
def read_job(job_id: str):
    return _json(200, job_resource(runtime.job_service.get(_tenant(), job_id)))


@app.delete("/jobs/<job_id>", summary="Cancel a job")
def cancel_job(job_id: str):
    runtime.job_service.cancel(_tenant(), job_id)
    return _json(202, {"status": True, "message": "Job has been marked for cancelling"})


@app.get("/jobs/<job_id>/errors", summary="The job's rejected rows as CSV")
def job_errors(job_id: str):
    job = runtime.job_service.get(_tenant(), job_id)
    filename = f"{job.id}-errors.csv"
    content = runtime.files.get(job.errors_key) if job.errors_key else b"row,field,code,message\r\n"
    if len(content) > INLINE_RESPONSE_LIMIT:
        # Lambda answers at most 6 MB: a larger report is fetched straight from S3.
        return Response(status_code=302, headers={"Location": runtime.files.download_url(job.errors_key, filename)})
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=content.decode("utf-8"),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@app.get("/job-types", summary="The job types and the JSON Schema of their args")
def job_types():
    _tenant()
    return _json(
        200,
        {
            "items": [
                {
                    "type": IMPORT_JOB_TYPE,
                    "description": "Import rows of one data type; the attachment is a JSON array of rows.",
                    "args_schema": ImportArgs.model_json_schema(),
                    "data_types": describe(),
                }
            ]
        },
    )


@app.get("/openapi.json", summary="This API's OpenAPI document")
def openapi_document():
    return _json(200, _openapi_document())


@cache
def _openapi_document() -> str:
    # The routes never change within a process: build the document once, on first request.
    return app.get_openapi_json_schema(title="Ferry", version="1.0")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request.admit(event, runtime.api_keys)
        response = app.resolve(event, context)
    except FerryError as exc:
        response = problems.proxy_answer(exc, event.get("rawPath", ""))
    response.setdefault("headers", {})["x-request-id"] = event.get("requestContext", {}).get("requestId", "")
    return response
