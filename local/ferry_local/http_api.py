"""The template's HTTP API on 127.0.0.1: each request becomes a real API Gateway HTTP API (payload 2.0) event.

Like API Gateway: the route is matched on method and path template (`$default`
catches the rest), a request with no route gets 404, a route's Lambda authorizer
(payload 2.0, simple responses) is invoked first and its context handed on
(`requestContext.authorizer.lambda`; a denial is a 403), a body over Lambda's 6 MB payload
limit gets 413 before any handler sees it, and a handler that fails gets 500 (503 when
it timed out). Those answers of the gateway itself are problems (RFC 9457) with an
`x-request-id`, where API Gateway answers a bare `{"message": ...}`: a client learns
the same from both. Broken framing (a bad Content-Length or chunk size, a body shorter
than announced) is answered 400/408, never a closed socket. Header values are never
logged: they carry the callers' API keys.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.errors import MissingHeaderBodySeparatorDefect
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ferry_local.context import LambdaContext
from ferry_local.instances import InvocationError
from ferry_local.template import ACCOUNT, REGION, Route

# Lambda's limit for a synchronous invocation payload; API Gateway's own (10 MB) is never the one reached.
MAX_BODY_BYTES = 6 * 1024 * 1024
# A body over the limit is read and dropped up to API Gateway's own 10 MB; an announced length past that gets its
# 413 at once (waiting for it would only end in a 408).
_DRAINED_BYTES = 10 * 1024 * 1024
READ_TIMEOUT_S = 5
# The local stack's control paths (not API Gateway's): POST /_local/schedules/<name>?at=<RFC 3339> fires a schedule.
CONTROL_PREFIX = "/_local/"
# Content types API Gateway passes as text; every other body reaches the function base64-encoded.
TEXT_TYPES = ("text/", "application/json", "application/problem+json", "application/xml", "application/javascript")

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


def api_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    route: Route,
    path_params: dict[str, str],
    source_ip: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway hands a Lambda integration with payload format 2.0."""
    url = urlsplit(target)
    query: dict[str, str] = {}
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        # API Gateway joins repeated parameters with commas.
        query[key] = f"{query[key]},{value}" if key in query else value
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            # Cookies go to their own field, one entry per cookie, and leave the headers.
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:
            # So do repeated headers: one header, values joined with commas.
            joined[name] = f"{joined[name]},{value}" if name in joined else value
    joined.setdefault("x-forwarded-for", source_ip)
    joined.setdefault("x-forwarded-proto", "http")
    content_type = joined.get("content-type", "").lower()
    text = _as_text(body) if content_type.startswith(TEXT_TYPES) or content_type.endswith("+json") else None
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": joined,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": joined.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": bool(body) and text is None,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode()
    return event


def authorizer_event(event: dict[str, Any]) -> dict[str, Any]:
    """What API Gateway hands a Lambda authorizer (payload 2.0) for a request: the request without its body."""
    http = event["requestContext"]["http"]
    route_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{event['requestContext']['apiId']}/$default/{http['method']}{http['path']}"
    request = {k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")}
    # A route's identity sources' values would be listed in `identitySource`; Ferry's authorizer has none.
    return {**request, "type": "REQUEST", "routeArn": route_arn, "identitySource": None}


def _as_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A function's answer as API Gateway turns it into HTTP (payload 2.0 rules)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Any other JSON is the body of a 200 application/json answer.
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    headers = [(k.lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(name.lower(), str(v)) for v in values]
    headers += [("set-cookie", cookie) for cookie in result.get("cookies") or []]
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
    return int(result["statusCode"]), headers, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # http.server listens with a backlog of 5: a burst of clients would get connection resets.
    request_queue_size = 1024


class HttpApi:
    def __init__(
        self,
        routes: list[Route],
        handler_for: Callable[[str], Callable[[dict, Any], Any]],
        function_arn: Callable[[str], str],
        limits: dict[str, tuple[int, int]] | None = None,
        log_requests: bool = True,
        control: Callable[[str, str, dict[str, str]], tuple[int, Any]] | None = None,
    ) -> None:
        self._log_requests = log_requests
        self._control = control  # the local stack's own /_local/ paths (make trigger); never a template route
        self._routes = routes
        self._handler_for = handler_for  # logical id -> handler
        self._function_arn = function_arn
        self._limits = limits or {}  # logical id -> (memory MB, timeout s)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, port: int) -> int:
        """Serves on 127.0.0.1:`port` (0 = a free port) in a thread; answers the port."""
        api = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = READ_TIMEOUT_S  # a client that stops sending mid-request gets an answer, not a hung thread

            def _serve(self) -> None:
                api.handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            # Method, path and status only: never headers or the query string, where API keys may be.
            def log_request(self, code: Any = "-", size: Any = "-") -> None:
                if not api._log_requests:
                    return
                # An unreadable request line leaves command and path unset.
                method, path = getattr(self, "command", None) or "-", urlsplit(getattr(self, "path", "") or "-").path
                print(f"{time.strftime('%H:%M:%S')} {method} {path} {code}", flush=True)

            def log_error(self, format: str, *args: Any) -> None:
                print(f"{time.strftime('%H:%M:%S')} unreadable request from {self.client_address[0]}", flush=True)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                # An unreadable request line or header block: a problem like every other refusal.
                self.close_connection = True
                if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
                    self.request_version = "HTTP/1.1"  # else http.server would answer with no status line at all
                _problem(self, code, "malformed-request" if code < 500 else "internal-error", message or "Bad request", explain or "The HTTP request could not be read.", str(uuid.uuid4()))

        self._server = _Server(("127.0.0.1", port), RequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="ferry-http-api", daemon=True)
        self._thread.start()
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        method = request.command
        path = urlsplit(request.path).path
        request_id = str(uuid.uuid4())
        try:
            body = _read_body(request)
        except BodyTooLarge:
            detail = f"The body is over {MAX_BODY_BYTES} bytes; send large files through POST /uploads."
            return _problem(request, 413, "payload-too-large", "Request Entity Too Large", detail, request_id)
        except Unreadable as exc:
            request.close_connection = True
            return _problem(request, 400, "malformed-request", "Bad request", str(exc), request_id)
        except TimeoutError:
            request.close_connection = True
            return _problem(request, 408, "request-timeout", "Request Timeout", "The body did not arrive in time.", request_id)
        if path.startswith(CONTROL_PREFIX) and self._control is not None:
            status, answer = self._control(method, path.removeprefix(CONTROL_PREFIX), dict(parse_qsl(urlsplit(request.path).query)))
            return _reply(request, status, [("content-type", "application/json")], json.dumps(answer).encode())
        for route in self._routes:
            params = route.matches(method, path)
            if params is not None:
                break
        else:
            return _problem(request, 404, "not-found", "Not Found", f"No route {method} {path}.", request_id)
        event = api_event(method, request.path, list(request.headers.items()), body, route, params, request.client_address[0], request_id)
        invoked = route.authorizer or route.function
        try:
            if route.authorizer is not None:
                verdict = self._invoke(route.authorizer, authorizer_event(event), request_id)
                if not (isinstance(verdict, dict) and isinstance(verdict.get("isAuthorized"), bool)):
                    log.error("%s answered no simple response on %s (request %s)", route.authorizer, route.route_key, request_id)
                    return _problem(request, 500, "internal-error", "Internal Server Error", "The authorizer failed; the request id identifies it in the logs.", request_id)
                if not verdict["isAuthorized"]:
                    return _problem(request, 403, "forbidden", "Forbidden", "The authorizer refused the request.", request_id)
                event["requestContext"]["authorizer"] = {"lambda": verdict.get("context") or {}}
                invoked = route.function
            status, headers, payload = http_response(self._invoke(route.function, event, request_id))
        except InvocationError as exc:
            # Lambda would log the error to the function's log group; here it goes to the console.
            log.error("%s failed on %s (request %s): %s", invoked, route.route_key, request_id, exc)
            if invoked == route.authorizer:
                # API Gateway answers 500 for an authorizer that failed or timed out, whatever the cause.
                return _problem(request, 500, "internal-error", "Internal Server Error", "The authorizer failed; the request id identifies it in the logs.", request_id)
            if exc.error_type == "Sandbox.Timedout":
                return _problem(request, 503, "service-unavailable", "Service Unavailable", "The function did not answer in time.", request_id)
            return _problem(request, 500, "internal-error", "Internal Server Error", "The function failed; the request id identifies it in the logs.", request_id)
        _reply(request, status, headers + [("apigw-requestid", request_id)], payload if method != "HEAD" else b"")

    def _invoke(self, function: str, event: dict[str, Any], request_id: str) -> Any:
        arn = self._function_arn(function)
        context = LambdaContext(arn.rsplit(":function:", 1)[-1], arn, request_id, *self._limits.get(function, ()))
        return self._handler_for(function)(event, context)


class Unreadable(Exception):
    """The request's framing is broken: its body cannot be read."""


def _read_body(request: BaseHTTPRequestHandler) -> bytes:
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in request.headers.defects):
        # A header line without a colon, or `Name : value`, ends the header block early (RFC 9112 5.1: 400).
        raise Unreadable("A header line could not be read.")
    lengths = set(request.headers.get_all("content-length") or [])
    if len(lengths) > 1:
        raise Unreadable("The request has more than one Content-Length.")
    chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
    if chunked and "content-length" in request.headers:
        raise Unreadable("Send either Content-Length or Transfer-Encoding: chunked, not both.")
    if chunked:
        parts, size = [], 0
        while chunk_size := _chunk_size(request.rfile.readline(1024)):
            size += chunk_size
            if size > MAX_BODY_BYTES:
                # The rest of the stream is not read, so the connection cannot be reused.
                request.close_connection = True
                raise BodyTooLarge
            part = request.rfile.read(chunk_size)
            if len(part) < chunk_size:
                raise Unreadable("The chunked body ended early.")
            parts.append(part)
            request.rfile.readline(1024)
        while request.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass  # trailer headers
        return b"".join(parts)
    text = request.headers.get("content-length") or "0"
    if not text.isdigit():
        raise Unreadable(f"Content-Length {text[:40]!r} is not a number of bytes.")
    length = int(text)
    if length > MAX_BODY_BYTES:
        if length <= _DRAINED_BYTES:
            # Read and drop it, so the client gets to read the 413 instead of a reset connection.
            while length > 0 and (dropped := request.rfile.read(min(length, 1 << 20))):
                length -= len(dropped)
        else:
            request.close_connection = True  # more than a client would send to this API: answered at once
        raise BodyTooLarge
    body = request.rfile.read(length) if length else b""
    if len(body) < length:
        raise Unreadable(f"The body has {len(body)} of the {length} bytes its Content-Length announces.")
    return body


def _chunk_size(line: bytes) -> int:
    text = line.split(b";")[0].strip()
    if not text or any(c not in b"0123456789abcdefABCDEF" for c in text):
        raise Unreadable(f"Chunk size {text[:20]!r} is not hexadecimal.")
    return int(text, 16)


def _problem(request: BaseHTTPRequestHandler, status: int, slug: str, title: str, detail: str, request_id: str) -> None:
    """What the gateway answers itself, as a problem (RFC 9457) like every answer of the API."""
    instance = urlsplit(getattr(request, "path", "") or "/").path
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail, "instance": instance}
    headers = [("content-type", "application/problem+json"), ("x-request-id", request_id), ("apigw-requestid", request_id)]
    _reply(request, status, headers, json.dumps(body).encode())


def _reply(request: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    request.send_response(status)
    for name, value in headers:
        if name not in ("content-length", "connection", "transfer-encoding"):
            request.send_header(name, value)
    request.send_header("content-length", str(len(body)))
    if request.close_connection:
        request.send_header("connection", "close")
    request.end_headers()
    request.wfile.write(body)
