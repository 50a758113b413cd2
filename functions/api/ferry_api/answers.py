"""The shapes of successful answers, in one place."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from ferry.jobs.model import Job

# How soon a client polling a job should ask again.
RETRY_AFTER_S = 2


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def created_answer(created: bool, body: Any, location: str) -> Response:
    """What a POST that creates answers: 201 when this request created it, 200 when a repeat with the same
    Idempotency-Key and body gets what the first created; Location says where it is either way."""
    return json_answer(201 if created else 200, body, {"Location": location})


def job_answer(status: int, body: Any, job: Job, location: str) -> Response:
    """A job's answer: where to poll it, and, while it runs on, when to poll again."""
    headers = {"Location": location}
    if not job.status.ended:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    return json_answer(status, body, headers)
