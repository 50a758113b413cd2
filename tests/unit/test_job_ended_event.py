"""What the `Job Ended` event carries to its subscribers (the notifier, the scheduler)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ferry.aws.events import MAX_ENTRY_BYTES, EventBridgeEvents
from ferry.jobs.model import Job, JobError, JobStatus
from ferry.jobs.resource import job_resource


class RecordingEventBridge:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.entries += Entries
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}


def ended(errors: list[JobError]) -> Job:
    at = datetime(2026, 11, 23, tzinfo=UTC)
    return Job("01JOB", "acme", "import_json", JobStatus.FINISHED, {"dataType": "Customers"}, at, at, errors=errors, error_count=len(errors) * 7)


def published(job: Job) -> tuple[dict[str, Any], int]:
    bridge = RecordingEventBridge()
    EventBridgeEvents(lambda: bridge).job_ended(job, job_resource(job))
    [entry] = bridge.entries
    return json.loads(entry["Detail"]), len(json.dumps(entry, ensure_ascii=False).encode())


def test_the_event_is_the_job_as_the_api_shows_it_with_its_tenant():
    job = ended([JobError("invalid_field", "name must not be empty", row=3, field="name")])
    detail, _ = published(job)
    assert detail == {**json.loads(json.dumps(job_resource(job))), "tenant": "acme"}


def test_errors_quoting_a_hostile_file_are_cut_to_what_an_entry_holds_and_the_job_still_ends_told():
    # Each message quotes 500 characters of 4-byte UTF-8 (over 6 KB each as \\u escapes): 100 of them outgrow 256 KB.
    job = ended([JobError("invalid_field", "\U0001f600" * 500, row=n, field="\U0001f600" * 200) for n in range(1, 101)])
    detail, size = published(job)
    assert size <= MAX_ENTRY_BYTES
    assert detail["errors_cut"] is True and detail["error_count"] == 700
    assert 0 < len(detail["errors"]) < 100 and [e["row"] for e in detail["errors"]] == list(range(1, len(detail["errors"]) + 1))


def entry_size(job: Job) -> tuple[dict[str, Any], int]:
    """The entry's size as EventBridge counts it: Source, DetailType and Detail (no Resources, no Time), UTF-8."""
    bridge = RecordingEventBridge()
    EventBridgeEvents(lambda: bridge).job_ended(job, job_resource(job))
    [entry] = bridge.entries
    return json.loads(entry["Detail"]), sum(len(entry[k].encode()) for k in ("Source", "DetailType", "Detail")) + sum(len(r.encode()) for r in entry["Resources"])


def test_an_entry_of_exactly_256_kb_is_cut_too_for_eventbridge_takes_only_less():
    # 91 errors of 4-byte characters and a 92nd whose 758 bytes make the entry exactly 256 KB: EventBridge
    # ("the total entry size must be less than 256KB") would refuse it, and the end would never be told.
    errors = [JobError("invalid_field", "\U0001f600" * 500, row=n, field="\U0001f600" * 200) for n in range(1, 92)]
    job = ended([*errors, JobError("invalid_field", "\U0001f600" * 100 + "x" * 358, row=92)])
    assert len(json.dumps({**job_resource(job), "tenant": "acme"}, ensure_ascii=False).encode()) + len("ferry") + len("Job Ended") == MAX_ENTRY_BYTES
    detail, size = entry_size(job)
    assert size < MAX_ENTRY_BYTES and detail["errors_cut"] is True


def test_a_cut_event_carries_as_many_of_the_first_errors_as_fit_not_half_of_them():
    # docs/api.md: "only as many of its first errors as fit". 100 errors of ~2.9 KB: some 88 fit, not 50.
    job = ended([JobError("invalid_field", "\U0001f600" * 500, row=n, field="\U0001f600" * 200) for n in range(1, 101)])
    detail, size = entry_size(job)
    kept = len(detail["errors"])
    assert size < MAX_ENTRY_BYTES and detail["errors_cut"] is True and kept >= 85
    # ...and one more would not have fit.
    one_more = json.dumps({**detail, "errors": job_resource(job)["errors"][: kept + 1]}, ensure_ascii=False).encode()
    assert len(one_more) + size - len(json.dumps(detail, ensure_ascii=False).encode()) > MAX_ENTRY_BYTES - 1024
