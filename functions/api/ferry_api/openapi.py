"""What the OpenAPI document says beyond the routes themselves: the problem schema on every error, enums."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ferry.jobs.kinds import load_kinds


class FieldProblem(BaseModel):
    pointer: str = Field(description="JSON pointer to the field at fault (`/query/limit`, `/headers/...` outside the body)")
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details: every refusal of this API."""

    type: str = Field(examples=["/problems/invalid-request"])
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldProblem] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"model": Problem}}}


ERRORS: dict[int, dict[str, Any]] = {
    400: _problem("Unreadable request: not JSON, not UTF-8, a bad parameter or cursor"),
    401: _problem("No API key, or an unknown one"),
    404: _problem("No such job (or one of another tenant)"),
    409: _problem("The job's status forbids it, or the Idempotency-Key's first request is still running"),
    413: _problem("Body over 6 MB: use POST /uploads"),
    415: _problem("Not JSON in UTF-8"),
    422: _problem("Readable but invalid: the problem names each field"),
}

JOB_KINDS_ENUM = [kind.name for kind in load_kinds()]
