"""The shape of every list's page, and the pages of the short lists the API reads whole (segments,
destinations, export profiles).

Each short list is at most a few hundred items, newest first by id; a page is cut from the whole, and its
cursor is the last id it showed, bound to the tenant (another tenant's cursor is a 400, as a job list's).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ferry.core.cursors import cursor_of, position_of
from ferry_api.answers import json_answer

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page")]
Cursor = Annotated[str | None, Query(description="`link.next` of the previous page carries it")]


def list_answer(items: Sequence[Any], limit: int, next_link: str | None) -> Response:
    """`{"items", "page": {"limit", "count"}, "link": {"next"?}}`: a page of any list."""
    return json_answer(200, {"items": list(items), "page": {"limit": limit, "count": len(items)}, "link": {"next": next_link} if next_link else {}})


def page_answer(items: Sequence[dict[str, Any]], *, tenant: str, path: str, limit: int, cursor: str | None) -> Response:
    """The page of the short list `items` after the cursor's item."""
    after = _after(cursor, tenant)
    newest_first = sorted(items, key=lambda item: item["id"], reverse=True)
    rest = [item for item in newest_first if after is None or item["id"] < after]
    page = rest[:limit]
    next_link = f"{path}?" + urlencode({"limit": limit, "cursor": _cursor(tenant, page[-1]["id"])}) if len(rest) > limit else None
    return list_answer(page, limit, next_link)


def _cursor(tenant: str, last_id: str) -> str:
    return cursor_of({"tenant": tenant, "after": last_id})


def _after(cursor: str | None, tenant: str) -> str | None:
    if not cursor:
        return None
    return position_of(cursor, lambda found: found.get("tenant") == tenant and isinstance(found.get("after"), str))["after"]
