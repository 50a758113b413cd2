"""Seed 003's automatic CSV export: `/export-profiles`, `/export-configs`, `/export-history`."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from ferry_api import request
from ferry_api.answers import created_answer, json_answer
from ferry_api.idempotent import destination_created_once
from ferry_api.openapi import BODY_PROBLEMS, CREATE_PROBLEMS, IdempotencyKey, ok, problems
from ferry_api.paging import Cursor, Limit, page_answer
from ferry_api.runtime import runtime

router = Router()
TAG = "Automatic CSV export (seed 003)"
OBJECT = {"type": "object"}
_PROFILE = {"name": "Nightly SFTP", "type": "sftp", "host": "sftp.example.org", "username": "ferry", "password": "s3cret",
            "host_key_fingerprint": "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8", "folder": "/exports"}
_CONFIG = {"active": True, "profileId": "01K...", "interval": "daily", "fields": [], "prefix": "crm_", "headers": "labels"}


def _tenant() -> str:
    return request.tenant_of(router.current_event)


@router.post(
    "/export-profiles",
    summary="Create an export profile (a destination; as many as the plan allows)",
    tags=[TAG],
    operation_id="createExportProfile",
    responses={
        201: ok("The profile, secrets masked", schema=OBJECT),
        200: ok("A repeat with the same Idempotency-Key and body: the profile the first one created", schema=OBJECT),
        **problems(*CREATE_PROBLEMS),
    },
)
def create_profile(profile: Annotated[dict[str, Any], Body(openapi_examples={"sftp": {"summary": "An SFTP server", "value": _PROFILE}})], idempotency_key: IdempotencyKey = None):
    made, created = destination_created_once(router.current_event, "export-profile", profile, runtime.scheduled_exports.create_profile)
    return created_answer(created, made, f"/export-profiles/{made['id']}")


@router.get("/export-profiles", summary="List export profiles", tags=[TAG], operation_id="listExportProfiles", responses={200: ok("The profiles, newest first, paged", schema=OBJECT), **problems(400, 422, s400="A cursor this API did not give out", s422="A bad limit")})
def list_profiles(limit: Limit = 100, cursor: Cursor = None):
    return page_answer(runtime.scheduled_exports.profiles(_tenant()), tenant=_tenant(), path="/export-profiles", limit=limit, cursor=cursor)


@router.get("/export-profiles/<profile_id>", summary="Read an export profile (secrets masked)", tags=[TAG], operation_id="getExportProfile", responses={200: ok("The profile", schema=OBJECT), **problems(404)})
def read_profile(profile_id: str):
    return json_answer(200, runtime.scheduled_exports.profile(_tenant(), profile_id))


@router.put("/export-profiles/<profile_id>", summary="Replace an export profile; secrets not sent are kept", tags=[TAG], operation_id="updateExportProfile", responses={200: ok("The profile", schema=OBJECT), **problems(404, *BODY_PROBLEMS)})
def update_profile(profile_id: str, profile: Annotated[dict[str, Any], Body(openapi_examples={"sftp": {"summary": "An SFTP server", "value": _PROFILE}})]):
    return json_answer(200, runtime.scheduled_exports.update_profile(_tenant(), profile_id, profile))


@router.delete("/export-profiles/<profile_id>", summary="Delete an export profile", tags=[TAG], operation_id="deleteExportProfile", responses={204: ok("Deleted"), **problems(404, 409)})
def delete_profile(profile_id: str):
    runtime.scheduled_exports.delete_profile(_tenant(), profile_id)
    return json_answer(204, "")


@router.post("/export-profiles/<profile_id>/check", summary="Test the profile's connection now", tags=[TAG], operation_id="checkExportProfile", responses={200: ok("`ok`, or the step that failed and why", schema=OBJECT), **problems(404)})
def check_profile(profile_id: str):
    return json_answer(200, runtime.scheduled_exports.check_profile(_tenant(), profile_id))


@router.post("/export-profiles/<profile_id>/test", summary="Test export: the first 10 records of each active configuration of the profile, now", tags=[TAG], operation_id="testExportProfile", responses={202: ok("The test jobs", schema=OBJECT), **problems(404)})
def test_profile(profile_id: str):
    return json_answer(202, {"jobs": runtime.scheduled_exports.test_profile(_tenant(), profile_id)})


@router.get("/export-configs", summary="The configurations, one per data area", tags=[TAG], operation_id="listExportConfigs", responses={200: ok("The configurations", schema=OBJECT), **problems()})
def list_configs():
    return json_answer(200, {"items": runtime.scheduled_exports.configs(_tenant())})


@router.get("/export-configs/<area>", summary="A data area's configuration", tags=[TAG], operation_id="getExportConfig", responses={200: ok("The configuration", schema=OBJECT), **problems(404)})
def read_config(area: str):
    return json_answer(200, runtime.scheduled_exports.config(_tenant(), area))


@router.put("/export-configs/<area>", summary="Save a data area's configuration (an active one needs a profile and an interval)", tags=[TAG], operation_id="putExportConfig", responses={200: ok("The configuration", schema=OBJECT), **problems(404, *BODY_PROBLEMS)})
def put_config(area: str, config: Annotated[dict[str, Any], Body(openapi_examples={"daily": {"summary": "Every night, changes only", "value": _CONFIG}})]):
    return json_answer(200, runtime.scheduled_exports.put_config(_tenant(), area, config))


@router.post("/export-configs/<area>/test", summary="Test export: the first 10 records, now, without moving the watermark", tags=[TAG], operation_id="testExportConfig", responses={202: ok("The test job", schema=OBJECT), **problems(404)})
def test_config(area: str):
    return json_answer(202, {"jobs": runtime.scheduled_exports.test(_tenant(), [area])})


@router.get("/export-history", summary="The exports of the last 90 days", tags=[TAG], operation_id="listExportHistory", responses={200: ok("`items`, newest first, paged", schema=OBJECT), **problems(422)})
def export_history(
    module: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Annotated[Literal["ok", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    entries = runtime.scheduled_exports.history(_tenant(), module, None if outcome is None else outcome == "ok")
    body: dict[str, Any] = {"items": entries[offset : offset + limit], "page": {"offset": offset, "limit": limit, "total": len(entries)}, "link": {}}
    if len(entries) > offset + limit:
        body["link"]["next"] = f"/export-history?offset={offset + limit}&limit={limit}" + (f"&module={module}" if module else "") + (f"&outcome={outcome}" if outcome else "")
    return json_answer(200, body)
