"""Large files: `POST /uploads` answers a pre-signed PUT; a job then names the file `upload:<id>`."""
from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import ConfigDict, Field

from ferry.core.clock import rfc3339
from ferry.core.lazy_model import LazyModel
from ferry.jobs.service import MAX_UPLOAD_BYTES
from ferry_api import request
from ferry_api.answers import json_answer
from ferry_api.openapi import BODY_PROBLEMS, ok, problems
from ferry_api.request import MediaType
from ferry_api.runtime import runtime

router = Router()


_EXAMPLE = {"name": "customers.csv", "mime_type": "text/csv"}


class UploadRequest(LazyModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    name: str = Field(min_length=1, max_length=255, description="The file's name (for you; the job's attachment names it again)")
    mime_type: MediaType = Field(default="application/octet-stream", description="Send this Content-Type with the PUT")


@router.post(
    "/uploads",
    summary="Upload a large file: get a pre-signed PUT URL",
    tags=["Files"],
    operation_id="createUpload",
    responses={201: ok("PUT the file to `url` with `headers`, then name it `upload:<id>` in a job's attachment", "UploadOut"), **problems(*BODY_PROBLEMS)},
)
def create_upload(upload_request: Annotated[UploadRequest, Body(openapi_examples={"csv": {"summary": "A CSV file", "value": _EXAMPLE}})]):
    upload = runtime.job_service.new_upload(request.tenant_of(router.current_event), upload_request.mime_type)
    body = {
        "id": upload.id,
        "file": f"upload:{upload.id}",
        "url": upload.url,
        "method": "PUT",
        "headers": upload.headers,
        "expires_at": rfc3339(upload.expires_at),
        "max_bytes": MAX_UPLOAD_BYTES,
    }
    return json_answer(201, body)
