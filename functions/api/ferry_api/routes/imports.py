"""The bulk-import dialect of seed 004: `/import`, an import_json job with the rows inline."""
from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import ConfigDict, Field, WithJsonSchema

from ferry.core.lazy_model import LazyModel
from ferry.core.observability import metrics
from ferry.datatypes.registry import SEED_004, describe
from ferry.imports.kinds import IMPORT_JSON, check_import_pair, encode_rows
from ferry.jobs.idempotent import request_hash
from ferry.jobs.service import NewAttachment, Submission
from ferry_api import request
from ferry_api.answers import job_answer, json_answer
from ferry_api.openapi import ACTIONS_ENUM, CREATE_PROBLEMS, IMPORT_DATA_TYPES_ENUM, JOB_HEADERS, IdempotencyKey, ok, problems
from ferry_api.runtime import runtime
from ferry_api.views.seed004 import import_status

router = Router()

_EXAMPLE = {
    "dataType": "Customers",
    "actionType": "CreateOrUpdate",
    "data": [
        {
            "vendorId": "1234567890",
            "name": "OOO Svetlyachok",
            "taxNumber": "123456789",
            "location": {
                "countryId": "UKR",
                "provinceId": "E5A6AAE5-7BAC-4C94-92E8-D07D84C1F18E",
                "addressLine": "vul. Dehtiarivska 28",
                "geoCoordinate": {"latitude": 50.462504, "longitude": 30.469118},
                "settlement": "Kyiv",
            },
            "tradeNetworkId": None,
            "officeId": "FAD3D784-6A79-4AF8-BF66-DB214FADEF11",
        }
    ],
}


class ImportRequest(LazyModel):
    """Seed 004: a bulk import of rows of one data type."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    dataType: Annotated[str, Field(max_length=100, description="One of GET /import/types"), WithJsonSchema({"type": "string", "maxLength": 100, "enum": IMPORT_DATA_TYPES_ENUM})]
    actionType: Annotated[
        str, Field(max_length=100, description="As the data type allows"), WithJsonSchema({"type": "string", "maxLength": 100, "enum": ACTIONS_ENUM})
    ]
    data: list[Any] = Field(description="The rows, each an object of the data type's model")


NewImport = Annotated[ImportRequest, Body(openapi_examples={"customers": {"summary": "Seed 004: one customer, CreateOrUpdate", "value": _EXAMPLE}})]


@router.post(
    "/import",
    summary="Start a bulk import (seed 004)",
    tags=["Bulk import (seed 004)"],
    operation_id="createImport",
    responses={
        202: ok("Accepted: the job's id (the same for a repeat with the same Idempotency-Key and body)", "ImportAccepted", headers=JOB_HEADERS),
        **problems(*CREATE_PROBLEMS, s422="Readable but invalid (a dataType/actionType pair the seed does not have, a bad row): the problem names each field"),
    },
)
def create_import(import_request: NewImport, idempotency_key: IdempotencyKey = None):
    data_type, action = check_import_pair(import_request.dataType, import_request.actionType, among=SEED_004)
    key = request.idempotency_key(router.current_event.headers)
    # The rows' identity for a repeat with the key: the same rows with their members in another order are the same.
    identity = request_hash(import_request.data) if key else None
    job, _ = runtime.job_service.submit(
        Submission(
            tenant=request.tenant_of(router.current_event),
            kind=IMPORT_JSON,
            args={"dataType": data_type.name, "actionType": action.value},
            attachment=NewAttachment("data.json", "application/json", content=encode_rows(import_request.data), identity=identity),
            idempotency_key=key,
        )
    )
    metrics.add_metric(name="ImportsSubmitted", unit="Count", value=1)
    return job_answer(202, {"id": job.id}, job, f"/import/{job.id}")


@router.get("/import/types", summary="The data types an import accepts and their actions", tags=["Bulk import (seed 004)"], operation_id="listImportTypes", responses={200: ok("Each data type with its actions, key fields and row schema", "ImportTypes"), **problems()})
def list_import_types():
    request.tenant_of(router.current_event)
    return json_answer(200, {"items": describe(SEED_004)})


@router.get("/import/<job_id>", summary="Status of a bulk import (seed 004)", tags=["Bulk import (seed 004)"], operation_id="getImport", responses={200: ok("The import's status", "ImportStatus", headers=JOB_HEADERS), **problems(404)})
def read_import(job_id: str):
    job = runtime.job_service.get(request.tenant_of(router.current_event), job_id)
    return job_answer(200, import_status(job), job, f"/import/{job.id}")
