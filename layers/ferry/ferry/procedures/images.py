"""DownloadItemsImages: each Item's image (its imageUrl) copied into the files bucket; an unchanged image is not downloaded again.

The URLs are the ERP's, so they are fetched like a client's attachment URL: behind the
SSRF guard (imports/sources/url.py), within time and at most 10 MB. Only JPEG, PNG, WebP
and GIF are kept, and only when the server's Content-Type and the file's first bytes
agree. The image goes to `images/<tenant>/<item code>` with its type.

What was fetched is remembered in a manifest beside the images
(`images/<tenant>/_manifest/images.json`: per item code the URL, sha256, size, type and
the ETag and Last-Modified the server sent). The next run asks the server with
If-None-Match / If-Modified-Since and takes a 304 as unchanged; a server that sends
neither is downloaded again, but an identical file is not written again. The manifest's
key has a slash after the tenant, which no item's key has (a code is percent-encoded),
so no item can overwrite it. While a run goes on it is written at most every 30 seconds
when something changed (not after each page: for a large catalogue that would write it
again and again whole), so a run cut short resumes without downloading again most of
what it had.

A failed item (refused URL, not an image, server error) is a problem of the outcome and
keeps its earlier image and record. The job's running output counts the items as each
one ends ("12 of 32 items, 2 failed"), at most once a second.
"""
from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from ferry.core.errors import shown
from ferry.imports.sources import url
from ferry.imports.sources.url import FetchPolicy, FetchRefused
from ferry.jobs.ports import FileMissing, FileStore
from ferry.procedures.catalogue import Outcome, RunContext
from ferry.store.port import Collection, EntityStore, Query

ITEMS = "Items"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SECONDS = 60.0
_SAVE_EVERY_S = 30.0
# The running output is written at most this often while items end (each is a write of the job), and once at the end.
_REPORT_EVERY_S = 1.0
_PAGE = 200
_WITH_IMAGE = {"imageUrl": {"$ne": None}}  # a missing field equals null, so this also leaves out items without one


def image_key(tenant: str, item_code: str) -> str:
    # Percent-encoded so that a code with a slash stays one key segment.
    return f"images/{tenant}/{quote(item_code, safe='')}"


def manifest_key(tenant: str) -> str:
    return f"images/{tenant}/_manifest/images.json"


def image_type(declared: str | None, body: bytes) -> str:
    """The image's media type when the server's Content-Type and the first bytes agree on one we keep; else _NotAnImage."""
    media_type = (declared or "").split(";")[0].strip().lower()
    if media_type not in ("image/jpeg", "image/png", "image/webp", "image/gif"):
        raise _NotAnImage(f"the server sent {shown(media_type) if media_type else 'no Content-Type'}, not a JPEG, PNG, WebP or GIF image")
    if _sniffed(body) != media_type:
        raise _NotAnImage(f"the file is not the {media_type} image its Content-Type says")
    return media_type


def _sniffed(body: bytes) -> str | None:
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if body.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    return None


class _NotAnImage(Exception):
    pass


@dataclass(frozen=True)
class _Result:
    status: str  # "downloaded" | "unchanged" | "failed"
    record: dict[str, Any] | None  # what the manifest keeps for the item afterwards
    problem: str | None = None


class DownloadItemsImages:
    def __init__(
        self,
        store: EntityStore,
        files: FileStore,
        fetch_policy: FetchPolicy,
        fetch: Callable[..., url.Fetched] = url.fetch,
        concurrency: int = 4,
    ) -> None:
        self._store = store
        self._files = files
        # The deployment's trusted hosts, with limits fit for an image whatever an attachment may weigh or take.
        self._policy = replace(
            fetch_policy,
            max_bytes=min(fetch_policy.max_bytes, MAX_IMAGE_BYTES),
            timeout_s=min(fetch_policy.timeout_s, MAX_IMAGE_SECONDS),
        )
        self._fetch = fetch
        self._concurrency = concurrency

    def __call__(self, run: RunContext) -> Outcome:
        items = Collection(run.tenant, ITEMS)
        earlier = self._manifest(run.tenant)
        seen: dict[str, dict[str, Any]] = {}  # this run's records: items gone or without an image drop out
        counts = {"downloaded": 0, "unchanged": 0, "failed": 0}
        problems: list[str] = []
        total = self._store.count(items, _WITH_IMAGE)
        query = Query(filter=_WITH_IMAGE, fields=["code", "imageUrl"], limit=_PAGE)
        saved_at, unsaved = time.monotonic(), False

        def progress() -> str:
            looked_at = sum(counts.values())  # items added since the count are fetched too: never "5 of 3"
            return f"{looked_at} of {max(total, looked_at)} items, {counts['failed']} failed"

        run.report(progress())
        reported_at = time.monotonic()
        with ThreadPoolExecutor(self._concurrency) as pool:
            while True:
                page = self._store.query(items, query)
                codes = [doc["code"] for doc in page.docs]
                pending = {pool.submit(self._one, run.tenant, doc, earlier.get(doc["code"])): doc["code"] for doc in page.docs}
                results: dict[str, _Result] = {}
                # Counted as each item ends, not as the page does: a page of slow servers takes minutes.
                for done in as_completed(pending):
                    result = results[pending[done]] = done.result()
                    counts[result.status] += 1
                    if time.monotonic() - reported_at >= _REPORT_EVERY_S:
                        run.report(progress())
                        reported_at = time.monotonic()
                for code in codes:  # in the page's order, so the problems named are the same from run to run
                    if results[code].problem is not None:
                        problems.append(results[code].problem)
                    if results[code].record is not None:
                        seen[code] = results[code].record
                unsaved = unsaved or any(seen.get(code) != earlier.get(code) for code in codes)
                if unsaved and time.monotonic() - saved_at >= _SAVE_EVERY_S:
                    # Items of later pages keep their earlier records until their turn.
                    self._files.put(manifest_key(run.tenant), _encoded({**earlier, **seen}), "application/json")
                    saved_at, unsaved = time.monotonic(), False
                if page.next_after is None:
                    break
                query = replace(query, after=page.next_after)
        run.report(progress())  # the last count, which the pace above may have held back
        if seen != earlier:
            self._files.put(manifest_key(run.tenant), _encoded(seen), "application/json")
        summary = f"{counts['downloaded']} images downloaded, {counts['unchanged']} unchanged, {counts['failed']} failed."
        return Outcome(summary, counts, counts["failed"], problems)

    def _manifest(self, tenant: str) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self._files.get(manifest_key(tenant)))
        except FileMissing:
            return {}

    def _one(self, tenant: str, item: dict[str, Any], earlier: dict[str, Any] | None) -> _Result:
        code, image_url = item["code"], item["imageUrl"]
        key = image_key(tenant, code)
        # Only an image still in the bucket and fetched from this very URL can be asked about conditionally.
        held = earlier if earlier is not None and earlier["url"] == image_url and self._files.size(key) is not None else None
        validators = {} if held is None else {"if_none_match": held.get("etag"), "if_modified_since": held.get("lastModified")}
        body = io.BytesIO()
        try:
            fetched = self._fetch(image_url, body.write, self._policy, **validators)
            if held is not None and fetched.not_modified:
                return _Result("unchanged", {**held, **_validators(fetched, held)})
            content = body.getvalue()
            content_type = image_type(fetched.content_type, content)
        except (FetchRefused, _NotAnImage) as exc:
            return _Result("failed", earlier, f"Item {code}: {exc}")
        record = {"url": image_url, "sha256": fetched.sha256, "size": fetched.size, "contentType": content_type, **_validators(fetched)}
        if held is not None and held["sha256"] == fetched.sha256 and held.get("contentType") == content_type:
            return _Result("unchanged", record)
        self._files.put(key, content, content_type)
        return _Result("downloaded", record)


def _encoded(manifest: dict[str, dict[str, Any]]) -> bytes:
    return json.dumps(manifest, sort_keys=True, ensure_ascii=False).encode()


def _validators(fetched: url.Fetched, held: dict[str, Any] | None = None) -> dict[str, str]:
    """The ETag and Last-Modified to send next time: the server's latest, or (a 304 may omit them) the ones it had sent."""
    earlier = held or {}
    found = {"etag": fetched.etag or earlier.get("etag"), "lastModified": fetched.last_modified or earlier.get("lastModified")}
    return {name: value for name, value in found.items() if value is not None}
