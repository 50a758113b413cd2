"""What a tenant keeps for its exports: segments (named filters) and destinations (where files land)."""
from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from ferry.exports.segments import SegmentIn
from ferry_api import request
from ferry_api.answers import created_answer, json_answer
from ferry_api.idempotent import created_once, destination_created_once
from ferry_api.openapi import BODY_PROBLEMS, CREATE_PROBLEMS, IdempotencyKey, ok, problems
from ferry_api.paging import Cursor, Limit, page_answer
from ferry_api.runtime import runtime

router = Router()
_DESTINATION_EXAMPLE = {
    "name": "Nightly SFTP",
    "type": "sftp",
    "host": "sftp.example.org",
    "port": 22,
    "username": "ferry",
    "password": "s3cret",
    "host_key_fingerprint": "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
    "folder": "/exports",
}
_OWN_BUCKET_EXAMPLE = {
    "name": "Our bucket",
    "type": "s3",
    "bucket": "acme-imports",
    "prefix": "ferry",
    # A role of the tenant's account named ferry-...; a read shows the external_id its trust policy must ask for.
    "role_arn": "arn:aws:iam::210987654321:role/ferry-exports",
}
_DESTINATION_EXAMPLES = {
    "sftp": {"summary": "An SFTP server", "value": _DESTINATION_EXAMPLE},
    "s3": {"summary": "The tenant's own S3 bucket, written as its role", "value": _OWN_BUCKET_EXAMPLE},
}


def _tenant() -> str:
    return request.tenant_of(router.current_event)


_SEGMENT_EXAMPLES = {
    "customers": {"summary": "Customers of one city", "value": {"name": "Kyiv customers", "dataType": "Customers", "filter": {"location.settlement": "Kyiv"}}},
}
_REPEAT = "A repeat with the same Idempotency-Key and body: what the first one created"
_CREATE_PROBLEMS = problems(*CREATE_PROBLEMS)
_LIST_PROBLEMS = problems(400, 422, s400="A cursor this API did not give out (or another tenant's)", s422="A bad limit")


@router.post(
    "/segments",
    summary="Save a named filter on one data type",
    tags=["Segments"],
    operation_id="createSegment",
    responses={201: ok("The segment", schema={"type": "object"}), 200: ok(_REPEAT, schema={"type": "object"}), **_CREATE_PROBLEMS},
)
def create_segment(segment: Annotated[SegmentIn, Body(openapi_examples=_SEGMENT_EXAMPLES)], idempotency_key: IdempotencyKey = None):
    made, created = created_once(
        router.current_event, "segment", segment.model_dump(mode="json"), lambda tenant, new_id: runtime.segments.create(tenant, segment, new_id), runtime.segments.get
    )
    return created_answer(created, vars(made), f"/segments/{made.id}")


@router.get("/segments", summary="List segments", tags=["Segments"], operation_id="listSegments", responses={200: ok("The segments, newest first, paged", schema={"type": "object"}), **_LIST_PROBLEMS})
def list_segments(limit: Limit = 100, cursor: Cursor = None):
    segments = [vars(s) for s in runtime.segments.list(_tenant())]
    return page_answer(segments, tenant=_tenant(), path="/segments", limit=limit, cursor=cursor)


@router.get("/segments/<segment_id>", summary="Read a segment", tags=["Segments"], operation_id="getSegment", responses={200: ok("The segment", schema={"type": "object"}), **problems(404)})
def read_segment(segment_id: str):
    return json_answer(200, vars(runtime.segments.get(_tenant(), segment_id)))


@router.delete("/segments/<segment_id>", summary="Delete a segment", tags=["Segments"], operation_id="deleteSegment", responses={204: ok("Deleted"), **problems(404)})
def delete_segment(segment_id: str):
    runtime.segments.delete(_tenant(), segment_id)
    return json_answer(204, "")


@router.post(
    "/destinations",
    summary="Register a destination (s3, sftp, ftp, ftps); secrets are write-only",
    tags=["Destinations"],
    operation_id="createDestination",
    responses={201: ok("The destination, secrets masked", schema={"type": "object"}), 200: ok(_REPEAT, schema={"type": "object"}), **_CREATE_PROBLEMS},
)
def create_destination(destination: Annotated[dict[str, Any], Body(openapi_examples=_DESTINATION_EXAMPLES)], idempotency_key: IdempotencyKey = None):
    made, created = destination_created_once(router.current_event, "destination", destination, runtime.destinations.create)
    return created_answer(created, made, f"/destinations/{made['id']}")


@router.get("/destinations", summary="List destinations", tags=["Destinations"], operation_id="listDestinations", responses={200: ok("The destinations, secrets masked, newest first, paged", schema={"type": "object"}), **_LIST_PROBLEMS})
def list_destinations(limit: Limit = 100, cursor: Cursor = None):
    return page_answer(runtime.destinations.list(_tenant()), tenant=_tenant(), path="/destinations", limit=limit, cursor=cursor)


@router.get("/destinations/<destination_id>", summary="Read a destination (secrets masked)", tags=["Destinations"], operation_id="getDestination", responses={200: ok("The destination, secrets masked", schema={"type": "object"}), **problems(404)})
def read_destination(destination_id: str):
    return json_answer(200, runtime.destinations.get(_tenant(), destination_id))


@router.put("/destinations/<destination_id>", summary="Replace a destination; secrets not sent are kept", tags=["Destinations"], operation_id="updateDestination", responses={200: ok("The destination, secrets masked", schema={"type": "object"}), **problems(404, *BODY_PROBLEMS)})
def update_destination(destination_id: str, destination: Annotated[dict[str, Any], Body(openapi_examples=_DESTINATION_EXAMPLES)]):
    return json_answer(200, runtime.destinations.update(_tenant(), destination_id, destination))


@router.delete("/destinations/<destination_id>", summary="Delete a destination and its secrets", tags=["Destinations"], operation_id="deleteDestination", responses={204: ok("Deleted"), **problems(404, 409, s409="An active export configuration exports to it")})
def delete_destination(destination_id: str):
    runtime.scheduled_exports.delete_destination(_tenant(), destination_id)  # refused while a configuration exports to it
    return json_answer(204, "")


@router.post("/destinations/<destination_id>/check", summary="Connect, log in, write and remove a probe now", tags=["Destinations"], operation_id="checkDestination", responses={200: ok("`ok`, or the step that failed and why", schema={"type": "object"}), **problems(404)})
def check_destination(destination_id: str):
    return json_answer(200, runtime.destinations.check(_tenant(), destination_id))
