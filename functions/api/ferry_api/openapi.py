"""What the OpenAPI document says beyond the routes themselves: the answers, the problems, enums.

Each route declares its real success answer (`ok`, naming its shape in shapes.py) and
the problems it can give (`problems`); `refine` then adds those shapes to the generated
document and takes out what Powertools adds on its own and this API never answers (its
JSON 422 "Validation Error": every refusal here is an RFC 9457 problem).

Routes name the shapes rather than hold their classes so that neither a cold start (~10 ms
of class definitions) nor a route's first request (Powertools analyses a route's response
models then) pays for documentation.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import WithJsonSchema

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


_COMPONENTS = "#/components/schemas/"


def _shape(name: str) -> dict[str, str]:
    return {"$ref": _COMPONENTS + name}


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
        answer: dict[str, Any] = {"description": found.get(status, _PROBLEMS[status]), "content": {PROBLEM_JSON: {"schema": _shape("Problem")}}}
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


def ok(description: str, shape: str | None = None, *, media_type: str = "application/json", schema: dict[str, Any] | None = None, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A success response: its description, and its body's shape (a class of shapes.py, by name) or schema (neither: no body)."""
    body = {"schema": _shape(shape)} if shape is not None else {"schema": schema} if schema is not None else None
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

# --- The generated document, refined ---------------------------------------------------------

# Referrers before what they refer to.
_POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")
# Powertools lower-cases header parameters' names; the document spells them as the docs do.
_HEADER_NAMES = {"idempotency-key": "Idempotency-Key"}


def refine(document: OpenAPI) -> OpenAPI:
    """Add the shapes the routes name; take out Powertools' own 422 where a route gives none (its refusals are
    problems), and its unused schemas; sort each route's responses; spell header parameters as the docs do;
    declare every tag a route uses."""
    from aws_lambda_powertools.event_handler.openapi.models import Tag  # loaded with the document, never by a request

    _add_shapes(document)
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


def _add_shapes(document: OpenAPI) -> None:
    """The components of the shapes the routes name, and of what those refer to, beside Powertools' own."""
    from aws_lambda_powertools.event_handler.openapi.models import Components, Schema
    from pydantic.json_schema import models_json_schema

    from ferry_api import shapes

    named = set(re.findall(rf'"{_COMPONENTS}(\w+)"', document.model_dump_json(by_alias=True, exclude_none=True)))
    models = [shape for name in sorted(named) if isinstance(shape := getattr(shapes, name, None), type) and issubclass(shape, shapes.Documented)]
    _, definitions = models_json_schema([(model, "serialization") for model in models], ref_template=_COMPONENTS + "{model}")
    schemas = dict((document.components.schemas if document.components else None) or {})
    for name, definition in definitions.get("$defs", {}).items():
        schemas.setdefault(name, Schema.model_validate(definition))
    if document.components is None:
        document.components = Components()
    document.components.schemas = dict(sorted(schemas.items()))


def _is_powertools_validation_error(response: Any) -> bool:
    content = getattr(response, "content", None) or (response.get("content") if isinstance(response, dict) else None) or {}
    return PROBLEM_JSON not in content and "HTTPValidationError" in str(content)
