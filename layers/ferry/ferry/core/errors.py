"""Domain errors. The API maps each kind to one RFC 9457 problem in one place."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def shown(value: object, limit: int = 60) -> str:
    """A client's value quoted in a message, cut short: a refusal never echoes a megabyte back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class FieldError:
    pointer: str  # JSON pointer into the request, e.g. "/actionType"
    message: str


def pointer(path: str, token: str) -> str:
    """`path` followed by one member or index, escaped as RFC 6901 says (`~` and `/` in a member's name)."""
    return f"{path}/{token.replace('~', '~0').replace('/', '~1')}"


def pointer_of(location: Iterable[int | str], path: str = "") -> str:
    """A validation error's location (pydantic's `loc`) as a JSON pointer under `path`; a refused member name
    (pydantic's `[key]`) points at the member itself."""
    for part in location:
        if part != "[key]":
            path = pointer(path, str(part))
    return path


class FerryError(Exception):
    """Base of the errors a client can be told about."""

    title = "Request failed"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class InvalidRequest(FerryError):
    """The request is well-formed but its content is refused (HTTP 422)."""

    title = "Invalid request"


class MalformedRequest(FerryError):
    """The request cannot be read: bad JSON, bad parameter syntax (HTTP 400)."""

    title = "Malformed request"


class UnsupportedMediaType(FerryError):
    """The body is not in a media type or charset this API reads (HTTP 415)."""

    title = "Unsupported media type"


class NotFound(FerryError):
    title = "Not found"


class Conflict(FerryError):
    """The resource is in a state that forbids the request (HTTP 409)."""

    title = "Conflict"


class IdempotencyKeyInUse(Conflict):
    title = "Request with this Idempotency-Key is still being processed"


class IdempotencyKeyReused(InvalidRequest):
    title = "Idempotency-Key was already used with a different request"


class Busy(Conflict):
    """A single-flight lane is held by another job (HTTP 409)."""

    title = "Busy"

    def __init__(self, detail: str, running_job_id: str) -> None:
        super().__init__(detail)
        self.running_job_id = running_job_id


class Unauthorized(FerryError):
    title = "Unauthorized"


class ServiceUnavailable(FerryError):
    title = "Service unavailable"


class JobNotFound(NotFound):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"No job {shown(job_id)}.")
        self.job_id = job_id


class InvalidTransition(Conflict):
    """A conditional status change lost: the job is no longer in a state that allows it."""

    def __init__(self, job_id: str, wanted: str, current: str | None) -> None:
        super().__init__(f"Job {job_id} is {current or 'gone'}; it cannot become {wanted}.")
        self.job_id = job_id
        self.wanted = wanted
        self.current = current
