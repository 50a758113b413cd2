"""What the API says about itself: the job types, the OpenAPI document (Swagger UI is at /docs)."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.event_handler.api_gateway import Router

from ferry.datatypes.registry import describe
from ferry.jobs.kinds import load_kinds
from ferry_api import request
from ferry_api.answers import json_answer
from ferry_api.openapi import ok, problems

router = Router()


@router.get("/job-types", summary="The job types and the JSON Schema of their args", tags=["Jobs"], operation_id="listJobTypes", responses={200: ok("Each job type with its args schema and an example; every data type", "JobTypes"), **problems()})
def job_types():
    request.tenant_of(router.current_event)
    return json_answer(200, {"items": _job_types(), "data_types": describe()})


@cache
def _job_types() -> list[dict]:
    return [
        {
            "type": kind.name,
            "description": kind.description,
            "attachment": {"rule": kind.attachment.value, "media_types": list(kind.media_types)},
            "args_schema": kind.args_model.model_json_schema(),
            "example": kind.example,
        }
        for kind in load_kinds()
    ]
