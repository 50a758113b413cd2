"""Seed 000's integration procedures: `GET /Integration/<endpoint>` starts one, `/settings` says who gets the mails."""
from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from ferry.core.errors import Busy, FieldError, InvalidRequest, MalformedRequest, NotFound
from ferry.jobs.service import Submission
from ferry.procedures.catalogue import ERP_TABLES, PROCEDURES
from ferry.procedures.kinds import PROCEDURE_KIND, ProcedureArgs, check_procedure
from ferry_api import request
from ferry_api.answers import RETRY_AFTER_S, json_answer
from ferry_api.openapi import BODY_PROBLEMS, ok, problems
from ferry_api.runtime import runtime

router = Router()
TAG = "Integration procedures (seed 000)"


@router.get(
    "/Integration/<endpoint>",
    summary="Start an integration procedure (seed 000); refused while a previous one runs",
    tags=[TAG],
    operation_id="startProcedure",
    responses={
        202: ok("Accepted: `{accepted: true, jobId}`", schema={"type": "object"}),
        409: ok("Busy: `{accepted: false, reason: busy, runningJobId}`", schema={"type": "object"}),
        **problems(400, 404, 422, 503, s422="`tables` given more than once (list them comma-separated)"),
    },
)
def start_procedure(endpoint: str, tables: Annotated[str | None, Query(description="ImportFromErp: Item,ItemOfflineAvailability,...")] = None):
    names = [t.strip() for t in (tables or "").split(",") if t.strip()]
    if endpoint not in PROCEDURES:
        raise NotFound(f"No endpoint {endpoint!r}; the endpoints are {', '.join(PROCEDURES)}.")
    if len(names) > len(ERP_TABLES):
        known = ", ".join(ERP_TABLES)
        raise MalformedRequest(f"At most {len(ERP_TABLES)} tables, each once: {known}.", [FieldError("/query/tables", f"at most {len(ERP_TABLES)} of {known}")])
    try:
        args = check_procedure(ProcedureArgs(procedure=endpoint, tables=names), "/endpoint", "/query/tables")
    except InvalidRequest as exc:
        # An unknown table is a bad query string, as seed 000 writes its calls.
        raise MalformedRequest(exc.detail, exc.errors) from exc
    try:
        job, _ = runtime.job_service.submit(Submission(request.tenant_of(router.current_event), PROCEDURE_KIND, args))
    except Busy as busy:
        return json_answer(409, {"accepted": False, "reason": "busy", "runningJobId": busy.running_job_id})
    return json_answer(202, {"accepted": True, "jobId": job.id}, {"Location": f"/jobs/{job.id}", "Retry-After": str(RETRY_AFTER_S)})


@router.get("/settings", summary="The tenant's settings (mail recipients, files to import)", tags=["Settings"], operation_id="getSettings", responses={200: ok("The settings", schema={"type": "object"}), **problems()})
def read_settings():
    return json_answer(200, runtime.tenant_settings.get(request.tenant_of(router.current_event)).model_dump(mode="json"))


@router.put("/settings", summary="Replace the tenant's settings", tags=["Settings"], operation_id="putSettings", responses={200: ok("The settings", schema={"type": "object"}), **problems(*BODY_PROBLEMS)})
def replace_settings(settings: Annotated[dict[str, Any], Body(openapi_examples={"mail": {"summary": "Mail recipients", "value": {"NotificationCenter": {"ErrorRecipients": ["ops@example.org"], "InfoRecipients": ["erp@example.org"]}}}})]):
    saved = runtime.tenant_settings.put(request.tenant_of(router.current_event), settings)
    return json_answer(200, saved.model_dump(mode="json"))

