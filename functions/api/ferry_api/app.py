"""API Gateway HTTP API -> Ferry: the resolver, its routers, and the Lambda handler.

Every request first passes `request.admit` (API key, media type, body encoding), then
the resolver routes it; every refusal is a problem (problems.py) and every answer
carries `x-request-id`.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import event_handler
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ferry.core.errors import FerryError
from ferry.core.observability import logger, metrics
from ferry_api import openapi, problems, request
from ferry_api.answers import json_answer
from ferry_api.routes import exports, files, imports, jobs, meta, procedures, saved, schedules
from ferry_api.runtime import runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

TITLE, VERSION = "Ferry", "1.0"
DESCRIPTION = (
    "Asynchronous import/export jobs. Authorize with an API key (Bearer or x-api-key); "
    "every refusal is an RFC 9457 problem; POSTs that create take an Idempotency-Key header."
)
# The document's parts as plain data: Powertools' OpenAPI models (~100 ms to build) load only when /docs or
# /openapi.json asks for the document, never for the requests the API is there for.
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <API key>`"},
    "apiKey": {"type": "apiKey", "name": "x-api-key", "in": "header", "description": "`x-api-key: <API key>` (the same keys)"},
}
# Either scheme authorizes every route; /docs and /openapi.json need none (request.PUBLIC_PATHS).
SECURITY = [{"bearer": []}, {"apiKey": []}]
TAGS = [
    {"name": "Jobs", "description": "The canonical job resource"},
    {"name": "Bulk import (seed 004)", "description": "`POST /import` and its status, as seed 004 shows them"},
    {"name": "Jobs (seed 002)", "description": "`/api/jobs`: the same jobs, with seed 002's fields"},
    {"name": "Files", "description": "Large files, uploaded straight to storage"},
    {"name": "Meta", "description": "This API's own description"},
]


class _Resolver(APIGatewayHttpResolver):
    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        # Both /docs and /openapi.json build the document here.
        return openapi.refine(super().get_openapi_schema(**kwargs))


app = _Resolver(enable_validation=True, json_body_deserializer=request.strict_json)
app.configure_openapi(title=TITLE, version=VERSION, description=DESCRIPTION, tags=TAGS, security_schemes=SECURITY_SCHEMES, security=SECURITY)
for area in (jobs, imports, files, exports, saved, schedules, procedures, meta):
    app.include_router(area.router)
problems.register(app)


@app.get(
    "/openapi.json",
    summary="This API's OpenAPI document",
    tags=["Meta"],
    operation_id="getOpenApi",
    responses={200: openapi.ok("The OpenAPI document", schema={"type": "object"}), 500: openapi.problems()[500]},
    openapi_extensions={"security": []},  # public: Powertools would drop an empty `security=[]`
)
def openapi_document():
    return json_answer(200, _openapi_document())


@cache
def _openapi_document() -> str:
    # The routes never change within a process: build the document once, on first request.
    return app.get_openapi_json_schema()


@app.get("/docs", include_in_schema=False)
def swagger_ui():
    return Response(status_code=200, content_type="text/html", body=_swagger_page())


@cache
def _swagger_page() -> str:
    """Swagger UI with the document inlined, its JS and CSS read from Powertools' package (no CDN needed).

    Built here on the first request rather than by `app.enable_swagger`, whose imports (Powertools'
    OpenAPI models, ~60 ms) would weigh on every cold start of the API function.
    """
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(event_handler.__file__).parent / "openapi" / "swagger_ui"
    # "</" escaped, so that no text of the document can close the page's <script> early.
    spec = _openapi_document().replace("</", "<\\/")
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    # An empty icon: otherwise a browser asks for /favicon.ico, which (like any route but these two) needs a key.
    return generate_swagger_html(spec, js, css, "", None).replace("<head>", '<head>\n    <link rel="icon" href="data:,">', 1)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request.admit(event)
        response = app.resolve(event, context)
    except FerryError as exc:
        response = problems.proxy_answer(exc, event.get("rawPath", ""))
    response.setdefault("headers", {})["x-request-id"] = event.get("requestContext", {}).get("requestId", "")
    return response
