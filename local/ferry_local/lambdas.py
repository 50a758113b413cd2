"""Lambda's Invoke API, answered by the project's own handlers, in front of moto's server.

moto's Step Functions interpreter calls `POST /2015-03-31/functions/{name}/invocations`
on its own endpoint, and moto's Lambda would need Docker. This WSGI layer answers
that one path with the function's instances (ferry_local.instances) and hands
everything else to moto. Errors are answered as
Lambda does (HTTP 200, `X-Amz-Function-Error`, errorType = the exception's class
name), so the state machine's Retry and Catch match on Python exception names.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ferry_local.context import LambdaContext
from ferry_local.instances import FunctionPool, InvocationError

# What Lambda says when an instance ended mid-invocation: it ran out of time, or its runtime died (killed, out of memory).
_CRASHES = {"Sandbox.Timedout": "Task timed out", "Runtime.ExitError": "Runtime exited with error: signal: killed"}
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

log = logging.getLogger(__name__)


@dataclass
class Fault:
    step: str
    times: int
    before: bool  # True: acts before the step runs; False: after it ran (its answer is lost)
    error_type: str | None  # None: no error, only the delay
    chunk: int | None = None  # only this chunk's run_chunk, when set
    delay_s: float = 0.0


class Faults:
    """Test-only: make the next invocations of a worker step fail, or run slowly.

    A crash after running answers `Sandbox.Timedout`, what Lambda reports when a function
    ran out of time (or `Runtime.ExitError`, when its process was killed): the work was
    done (rows written), but Step Functions never got the result. A failure before
    running answers an error of the given type without running the step, as when the
    function cannot reach its store. A delay makes the step take longer, so that a test
    can act while it runs.
    """

    def __init__(self, crashes: dict[str, int] | None = None) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = [Fault(step, times, False, "Sandbox.Timedout") for step, times in (crashes or {}).items()]

    def crash_after(self, step: str, times: int, error_type: str = "Sandbox.Timedout") -> None:
        self.arm(Fault(step, times, False, error_type))

    def fail_before(self, step: str, times: int, error_type: str, chunk: int | None = None) -> None:
        self.arm(Fault(step, times, True, error_type, chunk))

    def slow_down(self, step: str, times: int, seconds: float) -> None:
        self.arm(Fault(step, times, True, None, delay_s=seconds))

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(fault)

    def take(self, payload: Any, before: bool) -> Fault | None:
        if not isinstance(payload, dict):
            return None
        chunk = payload.get("chunk")
        number = chunk.get("number") if isinstance(chunk, dict) else None
        with self._lock:
            for fault in self._armed:
                if fault.before == before and fault.step == payload.get("step") and fault.chunk in (None, number) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None


class LambdaInvocations:
    def __init__(self, moto_app: Any, pools: dict[str, FunctionPool], arn_prefix: str, faults: Faults, limits: dict[str, tuple[int, int]] | None = None) -> None:
        self._moto_app = moto_app
        self._pools = pools  # function name -> its instances
        self._arn_prefix = arn_prefix
        self._faults = faults
        self._limits = limits or {}  # function name -> (memory MB, timeout s), from the template
        self.requests: Counter[tuple[str, str]] = Counter()  # (service, operation) -> AWS requests moto answered
        self._counting = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        found = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if not found or environ["REQUEST_METHOD"] != "POST":
            with self._counting:
                self.requests[_request_kind(environ)] += 1
            return self._moto_app(environ, start_response)
        # FunctionName may be a name, a full ARN or a partial one, with or without a qualifier.
        name = unquote(found["name"]).rsplit(":function:", 1)[-1].split(":")[0]
        if name not in self._pools:
            return _error(start_response, "404 Not Found", "ResourceNotFoundException", f"Function not found: {name}")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError as exc:
            return _error(start_response, "400 Bad Request", "InvalidRequestContentException", f"Could not parse request body into json: {exc}")
        context = LambdaContext(name, self._arn_prefix + name, str(uuid.uuid4()), *self._limits.get(name, ()))
        headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
        try:
            if fault := self._faults.take(payload, before=True):
                time.sleep(fault.delay_s)
                if fault.error_type:
                    raise InvocationError(fault.error_type, f"{fault.error_type} injected before the handler ran")
            result = self._pools[name].invoke(payload, context)
            if fault := self._faults.take(payload, before=False):
                raise InvocationError(fault.error_type, f"RequestId: {context.aws_request_id} Error: {_CRASHES.get(fault.error_type, fault.error_type)} (injected after the handler ran)")
        except InvocationError as exc:
            # Lambda writes this to the function's log; here the console is the log.
            log.warning("%s failed: %s: %s", name, exc.error_type, exc.message)
            headers.append(("X-Amz-Function-Error", "Unhandled"))
            start_response("200 OK", headers)
            return [json.dumps(exc.payload()).encode()]
        try:
            body = json.dumps(result)
        except (TypeError, ValueError) as exc:
            body = json.dumps({"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {exc}"})
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", headers)
        return [body.encode()]


def _request_kind(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, operation) of an AWS request: the service from its credential scope (header or
    presigned query), the operation from X-Amz-Target where the protocol has one (DynamoDB, Step
    Functions), else the HTTP method (S3's request prices go by it)."""
    query = unquote(environ.get("QUERY_STRING", ""))
    found = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "") or query)
    # A presigned URL of signature version 2 (S3's only) names no service: an upload's PUT.
    service = found["service"] if found else "s3" if "AWSAccessKeyId=" in query else "unsigned"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    return service, target.rsplit(".", 1)[-1] if target else environ["REQUEST_METHOD"]


_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")


def _error(start_response: Callable, status: str, error_type: str, message: str) -> list[bytes]:
    """An error of the Invoke API itself (not of the function), as Lambda's REST API answers it."""
    start_response(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)])
    return [json.dumps({"Type": "User", "message": message}).encode()]
