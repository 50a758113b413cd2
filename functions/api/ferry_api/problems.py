"""The one place errors become RFC 9457 problem responses. No stack trace ever leaves here."""
from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType

from ferry.aws.busy import described, is_busy
from ferry.core import errors
from ferry.core.observability import logger

PROBLEM_JSON = "application/problem+json"

# A 503's Retry-After: AWS throttling clears within seconds, and a job's launch is retried as soon.
RETRY_AFTER_SECONDS = 2

# Domain error -> (HTTP status, problem type slug). Subclasses come before their bases.
_STATUS: list[tuple[type[errors.FerryError], int, str]] = [
    (errors.IdempotencyKeyReused, 422, "idempotency-key-reused"),
    (errors.IdempotencyKeyInUse, 409, "idempotency-key-in-use"),
    (errors.Busy, 409, "busy"),
    (errors.MalformedRequest, 400, "malformed-request"),
    (errors.UnsupportedMediaType, 415, "unsupported-media-type"),
    (errors.InvalidRequest, 422, "invalid-request"),
    (errors.Unauthorized, 401, "unauthorized"),
    (errors.NotFound, 404, "not-found"),
    (errors.Conflict, 409, "conflict"),
    (errors.ServiceUnavailable, 503, "service-unavailable"),
]


def problem(status: int, slug: str, title: str, detail: str, instance: str, field_errors: list[dict[str, str]] | None = None, **extra: Any) -> Response:
    body = _body(status, slug, title, detail, instance, field_errors, **extra)
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body, ensure_ascii=False), headers=_headers(status))


def _body(status: int, slug: str, title: str, detail: str, instance: str, field_errors: list[dict[str, str]] | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }
    if field_errors:
        body["errors"] = field_errors
    return body


def _headers(status: int) -> dict[str, str] | None:
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="ferry"'}
    if status == 503:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return None


def _domain_parts(exc: errors.FerryError) -> tuple[int, str]:
    for kind, status, slug in _STATUS:
        if isinstance(exc, kind):
            return status, slug
    return 400, "bad-request"


def from_domain(exc: errors.FerryError, instance: str) -> Response:
    status, slug = _domain_parts(exc)
    extra = {"runningJobId": exc.running_job_id} if isinstance(exc, errors.Busy) else {}
    return problem(status, slug, exc.title, exc.detail, instance, [{"pointer": e.pointer, "detail": e.message} for e in exc.errors], **extra)


def proxy_answer(exc: errors.FerryError, instance: str) -> dict[str, Any]:
    """The same problem as from_domain, as the Lambda proxy answer of a request refused before routing."""
    status, slug = _domain_parts(exc)
    body = _body(status, slug, exc.title, exc.detail, instance, [{"pointer": e.pointer, "detail": e.message} for e in exc.errors])
    return {
        "statusCode": status,
        "headers": {"Content-Type": PROBLEM_JSON, **(_headers(status) or {})},
        "body": json.dumps(body, ensure_ascii=False),
    }


def _pointer(loc: tuple[Any, ...]) -> str:
    # Powertools locates errors as ("body", "args", "dataType") or ("query", "limit"); the pointer names the field.
    source, *path = loc or ("body",)
    prefix = "" if source == "body" else f"/{source}"
    return prefix + "".join(f"/{p}" for p in path)


def from_validation(exc: RequestValidationError, instance: str) -> Response:
    found = list(exc.errors())
    json_errors = [e for e in found if e.get("type") == "json_invalid"]
    if json_errors:
        position = json_errors[0]["loc"][-1]
        body = exc.body if isinstance(exc.body, str) else ""
        line = body.count("\n", 0, position) + 1
        column = position - (body.rfind("\n", 0, position) + 1) + 1
        reason = json_errors[0].get("ctx", {}).get("error", "invalid JSON")
        where = f"line {line} column {column} (character {position})"
        return problem(400, "malformed-request", "Malformed request", f"The body is not valid JSON: {reason} at {where}.", instance, [{"pointer": "", "detail": f"invalid JSON at {where}"}])
    field_errors = [{"pointer": _pointer(tuple(e.get("loc", ()))), "detail": e.get("msg", "invalid")} for e in found]
    names = ", ".join(sorted({fe["pointer"] or "body" for fe in field_errors}))
    return problem(422, "invalid-request", "Invalid request", f"Invalid fields: {names}.", instance, field_errors)


def register(app: Any) -> None:
    @app.exception_handler(errors.FerryError)
    def _domain(exc: errors.FerryError) -> Response:
        return from_domain(exc, app.current_event.path)

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response:
        return from_validation(exc, app.current_event.path)

    @app.exception_handler(RequestUnsupportedContentType)
    def _content_type(exc: RequestUnsupportedContentType) -> Response:
        return problem(415, "unsupported-media-type", "Unsupported media type", "Send JSON with 'Content-Type: application/json'.", app.current_event.path, [{"pointer": "/headers/Content-Type", "detail": "must be application/json"}])

    @app.exception_handler(NotFoundError)
    def _no_route(exc: NotFoundError) -> Response:
        return problem(404, "not-found", "Not found", f"No route {app.current_event.http_method} {app.current_event.path}.", app.current_event.path)

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if is_busy(exc):
            logger.warning("AWS is busy", extra={"error": described(exc)})
            return problem(
                503, "service-unavailable", "Service unavailable",
                f"AWS is briefly busy or unreachable; retry in {RETRY_AFTER_SECONDS} s (a POST that creates a job, with the same Idempotency-Key).",
                app.current_event.path,
            )
        logger.exception("unhandled error")
        return problem(500, "internal-error", "Internal error", "Something went wrong on our side; the request id identifies it in our logs.", app.current_event.path)
