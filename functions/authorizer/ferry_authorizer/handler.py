"""API Gateway (HTTP API, payload 2.0, simple responses) -> the caller's tenant, in the authorizer context.

Every request goes on to the API function with what was found: `tenant`, or `refusal`
(why there is none), or `unavailable` (the keys table stayed throttled or out of reach).
The API function answers a refusal 401 with a problem (RFC 9457), and `unavailable` 503,
before it reads anything of the body, as the API's contract says; an authorizer's denial
would be API Gateway's bare `403 {"message": "Forbidden"}` instead. Keys are cached in
this function (ApiKeyCache): API Gateway's own cache needs identity sources, which a key
sent in either of two headers cannot have (see template.yaml).
"""
from __future__ import annotations

import os
from typing import Any

from ferry.core import collector

with collector.loading():  # a cold start of every request's path: see collector.py
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from ferry.aws.busy import described, is_busy
    from ferry.core.errors import Unauthorized
    from ferry.core.observability import logger
    from ferry.core.settings import Settings
    from ferry.tenants.api_keys import ApiKeyCache, api_key_of
    from ferry.wiring import Runtime

    runtime = Runtime(Settings.from_env(os.environ))
    keys = ApiKeyCache(runtime.api_keys, runtime.settings.api_key_cache_seconds)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        tenant = keys.tenant_for(api_key_of(event.get("headers") or {}))
    except Unauthorized as refused:
        return {"isAuthorized": True, "context": {"refusal": refused.detail}}
    except Exception as exc:
        if not is_busy(exc):
            raise
        # An authorizer that raises is API Gateway's bare 500; this way the caller gets a 503 problem to retry.
        logger.warning("AWS is busy", extra={"error": described(exc)})
        return {"isAuthorized": True, "context": {"unavailable": "The API keys could not be read just now."}}
    return {"isAuthorized": True, "context": {"tenant": tenant}}
