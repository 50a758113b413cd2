"""The Events port on EventBridge: `Job Ended` on the default bus, `source: ferry`, the job (without rows) as detail."""
from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any

from ferry.jobs.model import Job

SOURCE = "ferry"
JOB_ENDED = "Job Ended"
# PutEvents takes entries of at most 256 KB. A job's first 100 errors, quoting what a hostile file sent, can
# outgrow that, and an end that can never be published is never told; past it, the event carries as many of the
# first errors as fit (`errors_cut`; the job's error_count and GET /jobs/{id}/errors have them all).
MAX_ENTRY_BYTES = 256 * 1024
# The entry must be *less than* 256 KB, and PutEvents' reference counts "any necessary characters and keys of the
# JSON representation of the event" too (its envelope: id, account, time, region, ...): a little is kept for that.
ENVELOPE_BYTES = 1024


class EventBridgeEvents:
    def __init__(self, make_client: Callable[[], Any]) -> None:
        # The client is made for the first event: the API function publishes only for a job it could not
        # launch, so its requests need not pay for loading EventBridge's service model.
        self._make_client = make_client

    @cached_property
    def _client(self) -> Any:
        return self._make_client()

    def job_ended(self, job: Job, view: dict[str, Any]) -> None:
        answer = self._client.put_events(Entries=[{"Source": SOURCE, "DetailType": JOB_ENDED, "Detail": _detail(job, view), "Resources": []}])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the Job Ended event: {answer['Entries']}")


def _detail(job: Job, view: dict[str, Any]) -> str:
    detail = {**view, "tenant": job.tenant}
    text = json.dumps(detail, ensure_ascii=False)
    errors = list(detail.get("errors") or [])
    room = MAX_ENTRY_BYTES - ENVELOPE_BYTES - len(SOURCE.encode()) - len(JOB_ENDED.encode())
    if len(text.encode()) < room or not errors:
        return text

    def cut(kept: int) -> str:
        return json.dumps({**detail, "errors": errors[:kept], "errors_cut": True}, ensure_ascii=False)

    # The most of the first errors that fit: a bisection (what fits with k errors fits with fewer).
    low, high = 0, len(errors) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if len(cut(middle).encode()) < room:
            low = middle
        else:
            high = middle - 1
    return cut(low)
