"""Lambda's Invoke API, answered by the project's own handlers, in front of moto's server.

moto's Step Functions interpreter calls `POST /2015-03-31/functions/{name}/invocations`
on its own endpoint, and moto's Lambda would need Docker. This WSGI layer answers
that one path in-process and hands everything else to moto. Errors are answered as
Lambda does (HTTP 200, `X-Amz-Function-Error`, errorType = the exception's class
name), so the state machine's Retry and Catch match on Python exception names.
"""
from __future__ import annotations

import importlib
import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger(__name__)


@dataclass
class LambdaContext:
    """The attributes of Lambda's Python context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 128
    timeout_s: float = 3
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        # Nothing stops a handler at the deadline here; the count is for code that plans by it.
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class CrashAfterRunning(Exception):
    """What a crash looks like to Step Functions: the work may be done, the answer never came."""


class Faults:
    """Test-only: make the next N invocations of a worker step crash after the handler ran.

    A crash answers `Sandbox.Timedout`, what Lambda reports when a function ran out of
    time: the work was done (rows written), but Step Functions never got the result.
    """

    def __init__(self, crashes: dict[str, int] | None = None) -> None:
        self._lock = threading.Lock()
        self._crashes: dict[str, int] = dict(crashes or {})

    def crash_after(self, step: str, times: int) -> None:
        with self._lock:
            self._crashes[step] = self._crashes.get(step, 0) + times

    def take(self, payload: Any) -> bool:
        step = payload.get("step") if isinstance(payload, dict) else None
        with self._lock:
            if self._crashes.get(step, 0) > 0:
                self._crashes[step] -= 1
                return True
        return False


def load_handler(path: str) -> Handler:
    module, _, function = path.rpartition(".")
    return getattr(importlib.import_module(module), function)


class LambdaInvocations:
    def __init__(
        self,
        moto_app: Any,
        handlers: dict[str, Callable[[], Handler]],
        arn_prefix: str,
        faults: Faults,
        limits: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        self._moto_app = moto_app
        self._handlers = handlers  # function name -> loader (imported on first call, after the env is set)
        self._loaded: dict[str, Handler] = {}
        self._arn_prefix = arn_prefix
        self._faults = faults
        self._limits = limits or {}  # function name -> (memory MB, timeout s), from the template
        self._lock = threading.Lock()

    def _handler(self, name: str) -> Handler:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self._handlers[name]()
            return self._loaded[name]

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        found = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if not found or environ["REQUEST_METHOD"] != "POST":
            return self._moto_app(environ, start_response)
        # FunctionName may be a name, a full ARN or a partial one, with or without a qualifier.
        name = unquote(found["name"]).rsplit(":function:", 1)[-1].split(":")[0]
        if name not in self._handlers:
            return _error(start_response, "404 Not Found", "ResourceNotFoundException", f"Function not found: {name}")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError as exc:
            return _error(start_response, "400 Bad Request", "InvalidRequestContentException", f"Could not parse request body into json: {exc}")
        context = LambdaContext(name, self._arn_prefix + name, str(uuid.uuid4()), *self._limits.get(name, ()))
        headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
        try:
            result = self._handler(name)(payload, context)
            if self._faults.take(payload):
                raise CrashAfterRunning(f"RequestId: {context.aws_request_id} Error: Task timed out (injected after the handler ran)")
        except Exception as exc:
            error_type = "Sandbox.Timedout" if isinstance(exc, CrashAfterRunning) else type(exc).__name__
            # Lambda writes this to the function's log; here the console is the log.
            log.warning("%s failed: %s: %s", name, error_type, exc)
            error = {"errorType": error_type, "errorMessage": str(exc), "stackTrace": traceback.format_tb(exc.__traceback__)}
            headers.append(("X-Amz-Function-Error", "Unhandled"))
            start_response("200 OK", headers)
            return [json.dumps(error).encode()]
        try:
            body = json.dumps(result)
        except (TypeError, ValueError) as exc:
            body = json.dumps({"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {exc}"})
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", headers)
        return [body.encode()]


def _error(start_response: Callable, status: str, error_type: str, message: str) -> list[bytes]:
    """An error of the Invoke API itself (not of the function), as Lambda's REST API answers it."""
    start_response(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)])
    return [json.dumps({"Type": "User", "message": message}).encode()]
