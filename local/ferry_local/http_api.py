"""The template's HTTP API on 127.0.0.1: each request becomes a real API Gateway HTTP API (payload 2.0) event.

Like API Gateway: the route is matched on method and path template, a request with
no route gets 404 `{"message":"Not Found"}`, and a body over Lambda's 6 MB payload
limit gets 413 before any handler sees it.
"""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ferry_local.lambdas import LambdaContext
from ferry_local.template import ACCOUNT, Route

MAX_BODY_BYTES = 6 * 1024 * 1024
TEXT_TYPES = ("application/json", "application/problem+json", "text/", "application/x-www-form-urlencoded", "application/xml")


def api_event(method: str, target: str, headers: dict[str, str], body: bytes, route: Route, path_params: dict[str, str], source_ip: str) -> dict[str, Any]:
    url = urlsplit(target)
    query: dict[str, str] = {}
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        # API Gateway joins repeated parameters with commas.
        query[key] = f"{query[key]},{value}" if key in query else value
    content_type = headers.get("content-type", "")
    textual = not body or content_type.startswith(TEXT_TYPES) or not content_type
    now = datetime.now(UTC)
    route_key = f"{route.method} {route.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not textual,
    }
    if "cookie" in headers:
        event["cookies"] = [c.strip() for c in headers["cookie"].split(";")]
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        event["body"] = body.decode("utf-8", errors="replace") if textual else base64.b64encode(body).decode()
    return event


class HttpApi:
    def __init__(self, routes: list[Route], handler_for: Callable[[str], Callable[[dict, Any], dict]], function_arn: Callable[[str], str]) -> None:
        self._routes = routes
        self._handler_for = handler_for
        self._function_arn = function_arn
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, port: int) -> int:
        api = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                api.handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                # Request lines only: never headers, so API keys stay out of the console.
                print(f"{time.strftime('%H:%M:%S')} {self.command} {self.path.split('?')[0]} {args[1] if len(args) > 1 else ''}")

        self._server = ThreadingHTTPServer(("127.0.0.1", port), RequestHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ferry-http-api", daemon=True)
        self._thread.start()
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        method = request.command
        path = urlsplit(request.path).path
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            request.rfile.read(length)
            return self._reply(request, 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
        body = request.rfile.read(length) if length else b""
        for route in self._routes:
            params = route.matches(method, path)
            if params is not None:
                break
        else:
            return self._reply(request, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
        headers = {k.lower(): v for k, v in request.headers.items()}
        event = api_event(method, request.path, headers, body, route, params, request.client_address[0])
        context = LambdaContext(route.function, self._function_arn(route.function), event["requestContext"]["requestId"])
        try:
            result = self._handler_for(route.function)(event, context)
        except Exception:
            # What API Gateway answers when the integration fails.
            return self._reply(request, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
        status = int(result.get("statusCode", 200))
        out_headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        cookies = result.get("cookies") or []
        self._reply(request, status, out_headers, payload if method != "HEAD" else b"", cookies)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, cookies: list[str] = ()) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name not in ("content-length", "connection"):
                request.send_header(name, value)
        for cookie in cookies:
            request.send_header("set-cookie", cookie)
        request.send_header("content-length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
