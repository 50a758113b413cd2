"""What every request passes before a route sees it, and what routes read of the request.

In order: the caller's tenant, which the HTTP API's authorizer found from the API key
(`requestContext.authorizer.lambda`: a 401 before anything of the body is read when it
found none, a 503 when it could not look), the media type (JSON, case-insensitive, UTF-8 only: else 415), the body's
bytes (UTF-8: else 400). The JSON itself is parsed by the resolver with `strict_json`.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ferry.core.errors import FieldError, InvalidRequest, MalformedRequest, ServiceUnavailable, Unauthorized, UnsupportedMediaType
from ferry.core.jsontext import JsonRefused, parse
from ferry.tenants.api_keys import SEND_A_KEY

# Readable without a key: the API's own description.
PUBLIC_PATHS = frozenset({"/docs", "/openapi.json"})

# RFC 6838's type/subtype, then parameters in printable ASCII: a body's media type is sent back as a header
# (an upload's PUT), where a line break would start a header of the client's choosing.
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*([ \t]*;[\x20-\x7e]*)?")


def _media_type(value: str) -> str:
    if not _MEDIA_TYPE.fullmatch(value):
        raise ValueError("a media type such as text/csv (type/subtype; parameters in printable ASCII)")
    return value


MediaType = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_media_type)]
# `curl -d` labels JSON as a form; this API reads only JSON, so a form label is read as JSON too.
JSON_MEDIA_TYPES = ("application/json", "application/x-www-form-urlencoded")
UTF8 = ("utf-8", "utf8")


def admit(event: dict[str, Any]) -> None:
    """Check the caller, then the body's media type and encoding; raise the FerryError that refuses the request."""
    path = event.get("rawPath") or event.get("requestContext", {}).get("http", {}).get("path", "")
    if path not in PUBLIC_PATHS:
        _tenant((event.get("requestContext", {}).get("authorizer") or {}).get("lambda"))
    if event.get("body"):
        _check_media_type(event)
        _decode_body(event)


def tenant_of(event: Any) -> str:
    """The caller's tenant, as the authorizer found it."""
    return _tenant(event.request_context.authorizer.get_lambda)


def _tenant(found: dict[str, Any] | None) -> str:
    found = found or {}
    if found.get("unavailable"):
        raise ServiceUnavailable(f"{found['unavailable']} Please retry.")
    if not found.get("tenant"):
        raise Unauthorized(found.get("refusal") or SEND_A_KEY)
    return str(found["tenant"])


def idempotency_key(headers: dict[str, str]) -> str | None:
    key = headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 255:
        raise InvalidRequest("Idempotency-Key must be 1 to 255 characters.", [FieldError("/headers/Idempotency-Key", "1 to 255 characters")])
    return key


def _check_media_type(event: dict[str, Any]) -> None:
    headers = event.setdefault("headers", {})
    media_type, _, parameters = headers.get("content-type", "application/json").partition(";")
    media_type = media_type.strip().lower()
    charset = next((v.strip().strip('"').lower() for k, _, v in (p.partition("=") for p in parameters.split(";")) if k.strip().lower() == "charset"), None)
    is_json = media_type in JSON_MEDIA_TYPES or (media_type.startswith("application/") and media_type.endswith("+json"))
    if not is_json or (charset is not None and charset not in UTF8):
        raise UnsupportedMediaType(
            f"Send JSON in UTF-8 ('Content-Type: application/json'), not {headers.get('content-type', '')[:100]!r}.",
            [FieldError("/headers/Content-Type", "must be application/json; charset=utf-8")],
        )
    headers["content-type"] = "application/json"  # what the resolver's JSON body parsing looks for


def _decode_body(event: dict[str, Any]) -> None:
    if not event.get("isBase64Encoded"):
        return
    try:
        raw = base64.b64decode(event["body"], validate=True)
        event["body"], event["isBase64Encoded"] = raw.decode("utf-8"), False
    except binascii.Error as exc:
        raise MalformedRequest("The body could not be read.", [FieldError("", "unreadable body")]) from exc
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start}"
        raise MalformedRequest(f"The body is not UTF-8 (at {where}); JSON must be UTF-8.", [FieldError("", f"not UTF-8 at {where}")]) from exc


def strict_json(text: str) -> Any:
    """The resolver's JSON parser: refusals become the JSONDecodeError it reports as `json_invalid`.

    Every body of this API is an object; anything else is refused here, because the
    resolver would quietly validate the first element of an array in its place.
    """
    try:
        value = parse(text)
    except JsonRefused as exc:
        raise json.JSONDecodeError(exc.reason, text, exc.position) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"The body must be a JSON object, not {_JSON_KINDS.get(type(value), 'a value')}.", [FieldError("", "must be an object")])
    return value


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "null"}

