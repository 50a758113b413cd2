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
import re
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class CrashAfterRunning(Exception):
    """What a crash looks like to Step Functions: the work may be done, the answer never came."""


class Faults:
    """Test-only: make the next N invocations of a worker step crash after the handler ran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crashes: dict[str, int] = {}

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
    def __init__(self, moto_app: Any, handlers: dict[str, Callable[[], Handler]], arn_prefix: str, faults: Faults) -> None:
        self._moto_app = moto_app
        self._handlers = handlers  # function name -> loader (imported on first call, after the env is set)
        self._loaded: dict[str, Handler] = {}
        self._arn_prefix = arn_prefix
        self._faults = faults
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
        name = unquote(found["name"]).rsplit(":function:", 1)[-1].split(":")[0]
        if name not in self._handlers:
            body = json.dumps({"Type": "User", "message": f"Function not found: {name}"}).encode()
            start_response("404 Not Found", [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ResourceNotFoundException")])
            return [body]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        context = LambdaContext(name, self._arn_prefix + name, str(uuid.uuid4()))
        headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
        try:
            result = self._handler(name)(payload, context)
            if self._faults.take(payload):
                raise CrashAfterRunning("Task timed out after the work was done (injected)")
            body = json.dumps(result)
        except Exception as exc:
            error_type = "Sandbox.Timedout" if isinstance(exc, CrashAfterRunning) else type(exc).__name__
            body = json.dumps(
                {"errorType": error_type, "errorMessage": str(exc), "stackTrace": traceback.format_tb(exc.__traceback__)}
            )
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", headers)
        return [body.encode()]
