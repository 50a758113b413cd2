"""The shapes of successful answers, in one place."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from ferry.jobs.model import Job

# How soon a client polling a job should ask again.
RETRY_AFTER_S = 2


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def job_answer(status: int, body: Any, job: Job, location: str) -> Response:
    """A job's answer: where to poll it, and, while it runs on, when to poll again."""
    headers = {"Location": location}
    if not job.status.ended:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    return json_answer(status, body, headers)
