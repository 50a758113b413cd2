"""AWS answers that mean "over its limits for a moment, or out of reach": the same request may succeed later.

botocore has already retried them by the time they reach Ferry. The API answers them as a
503 to retry (`ferry_api/problems.py`); the worker raises them again as `AwsBusy`, a name
the state machines' Retry lists, so a step is retried as a whole rather than its job failed.
"""
from __future__ import annotations

from botocore.exceptions import ClientError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

_BUSY_CODES = frozenset({
    "ThrottlingException", "Throttling", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "TooManyRequestsException", "SlowDown", "ServiceUnavailable", "InternalServerError", "InternalFailure",
    "TransactionConflictException",
})
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


class AwsBusy(Exception):
    """An AWS call stayed throttled or unreachable through the SDK's retries (the state machines retry the step)."""


def is_busy(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _BUSY_CODES
    return isinstance(exc, _UNREACHABLE)


def described(exc: BaseException) -> str:
    """An AWS error in a few words fit for a log line or a job's output: its code and operation, never its message
    (which can quote the request, and names the account, roles and resources behind it)."""
    if isinstance(exc, ClientError):
        return f"{exc.response['Error']['Code']} on {exc.operation_name}"
    return type(exc).__name__
