"""What a job's output says after a step of its state machine raised."""
from __future__ import annotations

import json
from typing import Any


def failure_reason(error: dict[str, Any]) -> str:
    """The job's output after a failed step: the error's name and message, never its stack trace."""
    name = error.get("Error", "Error")
    try:
        cause = json.loads(error.get("Cause") or "{}")
    except json.JSONDecodeError:
        cause = {"errorMessage": error.get("Cause")}
    message = cause.get("errorMessage") if isinstance(cause, dict) else None
    return f"{name}: {message}" if message else str(name)
