"""The Events port on EventBridge: `Job Ended` on the default bus, `source: ferry`, the job (without rows) as detail."""
from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any

from ferry.jobs.model import Job

SOURCE = "ferry"
JOB_ENDED = "Job Ended"


class EventBridgeEvents:
    def __init__(self, make_client: Callable[[], Any]) -> None:
        # The client is made for the first event: the API function publishes only for a job it could not
        # launch, so its requests need not pay for loading EventBridge's service model.
        self._make_client = make_client

    @cached_property
    def _client(self) -> Any:
        return self._make_client()

    def job_ended(self, job: Job, view: dict[str, Any]) -> None:
        answer = self._client.put_events(
            Entries=[{"Source": SOURCE, "DetailType": JOB_ENDED, "Detail": json.dumps({**view, "tenant": job.tenant}), "Resources": []}]
        )
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the Job Ended event: {answer['Entries']}")
