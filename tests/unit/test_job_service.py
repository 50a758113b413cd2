"""The job service on in-memory fakes: kinds, attachments, idempotency, cancel; no AWS, no moto."""
from __future__ import annotations

import json

import pytest

from ferry.core.errors import Busy, Conflict, IdempotencyKeyReused, InvalidRequest, MalformedRequest, ServiceUnavailable
from ferry.jobs import files
from ferry.jobs.kinds import UnknownKind, kind_of, load_kinds
from ferry.jobs.model import JobStatus
from ferry.jobs.service import MAX_UPLOAD_BYTES, JobService, NewAttachment, Submission
from ferry.testing import InMemoryFiles, InMemoryIdempotency, InMemoryJobs, InMemoryLeases, InMemoryReferences, RecordingEvents, RecordingLauncher, StillClock


@pytest.fixture
def parts():
    clock = StillClock()
    jobs, stored, launcher = InMemoryJobs(clock), InMemoryFiles(), RecordingLauncher()
    return JobService(jobs, stored, launcher, RecordingEvents(), InMemoryIdempotency(), InMemoryReferences(), InMemoryLeases(clock), clock), jobs, stored, launcher


def rows_file(*rows) -> NewAttachment:
    return NewAttachment("rows.json", "application/json", content=json.dumps(list(rows)).encode())


def submission(kind: str = "import_json", args=None, attachment=None, key=None) -> Submission:
    found = kind_of(kind)
    return Submission("acme", found, found.args(args if args is not None else {"dataType": "customers", "actionType": "createorupdate"}), attachment, key)


def test_every_kind_is_registered_with_its_args_schema():
    names = {k.name for k in load_kinds()}
    assert {"import_json", "import_csv", "import_dovuti"} <= names
    assert kind_of("import_csv").args_model.model_json_schema()["properties"]["delimiter"]
    with pytest.raises(UnknownKind):
        kind_of("reticulate_splines")


def test_args_are_checked_by_the_kind_and_stored_in_their_canonical_spelling():
    assert kind_of("import_json").args({"dataType": "customers", "actionType": "CREATE"}) == {"dataType": "Customers", "actionType": "Create"}
    with pytest.raises(InvalidRequest) as refused:
        kind_of("import_csv").args({"dataType": "Customers", "actionType": "Replace"})
    assert refused.value.errors[0].pointer == "/args/actionType"
    with pytest.raises(InvalidRequest) as refused:
        kind_of("import_csv").args({"dataType": "Customers", "actionType": "Create", "encoding": "klingon-8"})
    assert refused.value.errors[0].pointer == "/args/encoding"


def test_an_inline_attachment_is_stored_with_its_size_and_digest_and_the_job_launched(parts):
    service, jobs, stored, launcher = parts
    job, created = service.submit(submission(attachment=rows_file({"vendorId": "1"})))
    assert created and job.status is JobStatus.PENDING and launcher.launched == [job]
    content = stored.get(files.input_key("acme", job.id))
    assert job.input_key == files.input_key("acme", job.id)
    assert (job.attachment.size, len(job.attachment.sha256)) == (len(content), 64)
    assert jobs.get("acme", job.id).args == {"dataType": "Customers", "actionType": "CreateOrUpdate"}


def test_an_inline_json_attachment_that_is_not_an_array_is_refused_before_anything_is_stored(parts):
    service, jobs, stored, launcher = parts
    with pytest.raises(InvalidRequest):
        service.submit(submission(attachment=NewAttachment("x.json", "application/json", content=b'{"a": 1}')))
    with pytest.raises(MalformedRequest):
        service.submit(submission(attachment=NewAttachment("x.json", "application/json", content=b"[NaN]")))
    assert stored.files == {} and launcher.launched == [] and jobs.list("acme") == ([], None)


def test_a_kind_that_needs_an_attachment_refuses_none(parts):
    service, *_ = parts
    with pytest.raises(InvalidRequest) as refused:
        service.submit(submission("import_csv", {"dataType": "Customers", "actionType": "Create"}))
    assert refused.value.errors[0].pointer == "/attachment"


def test_an_upload_is_taken_by_reference_and_a_missing_or_oversized_one_refused(parts):
    service, jobs, stored, _ = parts
    upload = service.new_upload("acme", "text/csv")
    assert upload.url and upload.headers == {"Content-Type": "text/csv"}
    csv_args = {"dataType": "Customers", "actionType": "Create"}
    with pytest.raises(InvalidRequest) as refused:
        service.submit(submission("import_csv", csv_args, NewAttachment("c.csv", "text/csv", upload_id=upload.id)))
    assert "no upload" in refused.value.detail.lower()
    stored.put(files.upload_key("acme", upload.id), b"vendorId\n1\n")
    job, _ = service.submit(submission("import_csv", csv_args, NewAttachment("c.csv", "text/csv", upload_id=upload.id)))
    assert job.input_key == files.upload_key("acme", upload.id) and job.attachment.size == 11

    class Huge(InMemoryFiles):
        def size(self, key):
            return MAX_UPLOAD_BYTES + 1

    big = JobService(jobs, Huge(), RecordingLauncher(), RecordingEvents(), InMemoryIdempotency(), InMemoryReferences(), InMemoryLeases(StillClock()), StillClock())
    with pytest.raises(InvalidRequest, match="at most"):
        big.submit(submission("import_csv", csv_args, NewAttachment("c.csv", "text/csv", upload_id="X")))


def test_an_url_that_cannot_be_parsed_is_refused_naming_the_file_not_a_500(parts):
    service, jobs, _, launcher = parts
    csv_args = {"dataType": "Customers", "actionType": "Create"}
    for url in ("http://[::1/rows.csv", "https://[not-an-address]/rows.csv"):
        with pytest.raises(InvalidRequest) as refused:
            service.submit(submission("import_csv", csv_args, NewAttachment("rows.csv", "text/csv", url=url)))
        assert [e.pointer for e in refused.value.errors] == ["/attachment/file"]
    assert jobs.list("acme")[0] == [] and launcher.launched == []


def test_an_url_attachment_is_left_for_the_worker_to_fetch(parts):
    service, *_ = parts
    job, _ = service.submit(submission("import_dovuti", {}, NewAttachment("d.csv", "text/csv", url="https://example.org/d.csv")))
    assert job.input_key is None and job.attachment.url == "https://example.org/d.csv" and job.attachment.size is None
    assert job.args == {"actionType": "CreateOrUpdate", "dataType": "Dovuti"}


def test_the_same_idempotency_key_answers_the_first_job_and_a_different_body_is_refused(parts):
    service, _, _, launcher = parts
    first, created = service.submit(submission(attachment=rows_file({"vendorId": "1"}), key="k"))
    again, created_again = service.submit(submission(attachment=rows_file({"vendorId": "1"}), key="k"))
    assert (created, created_again, again.id) == (True, False, first.id) and len(launcher.launched) == 1
    with pytest.raises(IdempotencyKeyReused):
        service.submit(submission(attachment=rows_file({"vendorId": "2"}), key="k"))


def test_a_job_that_cannot_be_launched_ends_failed_and_frees_its_key(parts):
    service, jobs, _, launcher = parts
    launcher.fail = True
    with pytest.raises(ServiceUnavailable):
        service.submit(submission(attachment=rows_file({"vendorId": "1"}), key="k"))
    [failed], _ = jobs.list("acme")
    assert failed.status is JobStatus.FAILED
    launcher.fail = False
    job, created = service.submit(submission(attachment=rows_file({"vendorId": "1"}), key="k"))
    assert created and job.id != failed.id


def test_a_job_that_cannot_be_launched_is_announced_as_ended_failed():
    # Its subscribers (a procedure's mails, a scheduled export's history) would otherwise never hear of it.
    clock, launcher, events = StillClock(), RecordingLauncher(), RecordingEvents()
    jobs = InMemoryJobs(clock)
    service = JobService(jobs, InMemoryFiles(), launcher, events, InMemoryIdempotency(), InMemoryReferences(), InMemoryLeases(clock), clock)
    launcher.fail = True
    with pytest.raises(ServiceUnavailable):
        service.submit(submission(attachment=rows_file({"vendorId": "1"})))
    [failed], _ = jobs.list("acme")
    [announced] = events.ended
    assert (announced["id"], announced["status"]) == (failed.id, "failed")


def test_cancel_marks_a_running_job_answers_a_repeat_alike_and_refuses_an_ended_one(parts):
    service, jobs, *_ = parts
    job, _ = service.submit(submission(attachment=rows_file({"vendorId": "1"})))
    assert service.cancel("acme", job.id).status is JobStatus.CANCELLING
    assert service.cancel("acme", job.id).status is JobStatus.CANCELLING  # a retried cancel: still under way
    jobs.transition("acme", job.id, JobStatus.CANCELLED)
    with pytest.raises(Conflict):
        service.cancel("acme", job.id)


def test_listing_pages_newest_first(parts):
    service, _, _, _ = parts
    clock = service._clock
    ids = []
    for n in range(5):
        clock.advance(seconds=1)
        ids.append(service.submit(submission(attachment=rows_file({"vendorId": str(n)})))[0].id)
    page, cursor = service.list("acme", limit=3)
    rest, end = service.list("acme", limit=3, cursor=cursor)
    assert [j.id for j in page + rest] == ids[::-1] and end is None


def test_a_single_flight_kind_is_refused_while_a_job_holds_its_lane(parts):
    service, jobs, _, launcher = parts
    first, _ = service.submit(submission("procedure", {"procedure": "ImportFromErp", "tables": ["item"]}))
    assert first.args == {"procedure": "ImportFromErp", "tables": ["Item"]}
    with pytest.raises(Busy) as busy:
        service.submit(submission("procedure", {"procedure": "ExportToErp"}))
    assert busy.value.running_job_id == first.id and len(launcher.launched) == 1
