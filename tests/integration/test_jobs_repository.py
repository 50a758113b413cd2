"""The jobs table as the template defines it, in moto: conditional transitions, listing, idempotency."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from ferry.core.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidTransition, JobNotFound, MalformedRequest
from ferry.aws.idempotency import CLAIM_LEASE, Claim, IdempotencyTable
from ferry.core.ids import new_ulid
from ferry.jobs.lifecycle import ANNOUNCEMENT_CLAIM as CLAIM
from ferry.jobs.model import ChunkCounts, Job, JobStatus
from ferry.aws.jobs_table import JobsTable


class StillClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> StillClock:
    return StillClock(datetime(2026, 11, 22, 3, 0, tzinfo=UTC))


@pytest.fixture
def table(aws_stack):
    return boto3.resource("dynamodb").Table(aws_stack.physical("JobsTable"))


@pytest.fixture
def repo(table, clock) -> JobsTable:
    return JobsTable(table, clock, retention_days=90)


def make_job(tenant: str = "acme", job_type: str = "import_json", at: datetime | None = None) -> Job:
    moment = at or datetime.now(UTC)
    return Job(
        id=new_ulid(int(moment.timestamp() * 1000)),
        tenant=tenant,
        type=job_type,
        status=JobStatus.PENDING,
        args={"dataType": "Customers", "actionType": "Create"},
        created_at=moment,
        updated_at=moment,
        input_key="jobs/x/input.json",
    )


def test_created_job_reads_back(repo):
    job = make_job()
    repo.create(job)
    stored = repo.get("acme", job.id)
    assert stored.status is JobStatus.PENDING
    assert stored.args == {"dataType": "Customers", "actionType": "Create"}
    assert stored.input_key == "jobs/x/input.json"


def test_other_tenant_cannot_read_the_job(repo):
    job = make_job()
    repo.create(job)
    with pytest.raises(JobNotFound):
        repo.get("globex", job.id)


def test_transitions_follow_the_lifecycle_and_stamp_times(repo, clock, table):
    job = make_job()
    repo.create(job)
    running = repo.transition("acme", job.id, JobStatus.RUNNING)
    assert running.started_at == clock.moment
    clock.moment += timedelta(seconds=5)
    done = repo.transition("acme", job.id, JobStatus.FINISHED, output="ok")
    assert done.terminated_at == clock.moment and done.output == "ok"
    assert done.run_ms == 5000
    item = table.get_item(Key={"pk": "T#acme", "sk": f"JOB#{job.id}"})["Item"]
    assert int(item["expires_at"]) == int((clock.moment + timedelta(days=90)).timestamp())
    with pytest.raises(InvalidTransition) as lost:
        repo.transition("acme", job.id, JobStatus.CANCELLING)
    assert lost.value.current == "finished"


def test_a_status_never_goes_back(repo):
    job = make_job()
    repo.create(job)
    repo.transition("acme", job.id, JobStatus.RUNNING)
    with pytest.raises(InvalidTransition):
        repo.transition("acme", job.id, JobStatus.RUNNING)
    with pytest.raises(InvalidTransition):
        repo.transition("acme", job.id, JobStatus.CANCELLED)


def test_two_concurrent_writers_never_both_win(repo):
    job = make_job()
    repo.create(job)
    repo.transition("acme", job.id, JobStatus.RUNNING)
    outcomes: list[str] = []

    def end(status: JobStatus) -> None:
        try:
            repo.transition("acme", job.id, status)
            outcomes.append(status.value)
        except InvalidTransition:
            outcomes.append("lost")

    threads = [threading.Thread(target=end, args=(s,)) for s in (JobStatus.FINISHED, JobStatus.FAILED) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("lost") == len(threads) - 1
    assert repo.get("acme", job.id).status.value in outcomes


def test_chunk_counts_overwrite_so_a_retry_counts_once(repo):
    job = make_job()
    repo.create(job)
    repo.transition("acme", job.id, JobStatus.RUNNING)
    repo.set_plan("acme", job.id, total=25, chunk_count=3, running_output="25 rows in 3 chunks")
    for _ in range(2):
        repo.record_chunk("acme", job.id, 0, ChunkCounts(10, 9, 1), "rows 1-10")
    repo.record_chunk("acme", job.id, 1, ChunkCounts(10, 10, 0), "rows 11-20")
    progress = repo.get("acme", job.id).progress
    assert (progress.total, progress.processed, progress.succeeded, progress.failed) == (25, 20, 19, 1)
    assert progress.percent == 80.0
    assert repo.get("acme", job.id).running_output == "rows 11-20"
    # A chunk lost through its retries is counted for what it wrote, and stays known as lost.
    repo.record_chunk("acme", job.id, 2, ChunkCounts(3, 3, 0, lost=True), "chunk 2 failed after writing 3 of its rows")
    chunks = repo.get("acme", job.id).chunks
    assert (chunks["2"].lost, chunks["1"].lost, repo.get("acme", job.id).progress.succeeded) == (True, False, 22)


def test_a_chunk_that_wrote_after_the_job_ended_is_still_counted(repo):
    job = make_job()
    repo.create(job)
    repo.transition("acme", job.id, JobStatus.RUNNING)
    repo.set_plan("acme", job.id, total=20, chunk_count=2, running_output="20 rows in 2 chunks")
    repo.transition("acme", job.id, JobStatus.CANCELLING)
    repo.record_chunk("acme", job.id, 0, ChunkCounts(10, 10, 0), "rows 1-10")
    repo.transition("acme", job.id, JobStatus.CANCELLED, output="Cancelled.")
    repo.record_chunk("acme", job.id, 1, ChunkCounts(10, 10, 0), "rows 11-20")
    ended = repo.get("acme", job.id)
    assert ended.progress.processed == 20
    assert ended.running_output is None  # an ended job says nothing is being done
    with pytest.raises(JobNotFound):
        repo.record_chunk("acme", "01NOSUCHJOB", 0, ChunkCounts(1, 1, 0), "rows 1-1")


def test_unended_jobs_of_every_tenant_are_found_until_they_end(repo):
    old = datetime.now(UTC) - timedelta(hours=1)
    running, pending, done = make_job("acme", at=old), make_job("globex", at=old), make_job("acme", at=old)
    fresh = make_job("acme")
    for job in (running, pending, done, fresh):
        repo.create(job)
    repo.transition("acme", running.id, JobStatus.RUNNING)
    repo.transition("acme", done.id, JobStatus.FAILED, output="x")
    found = {j.id for j in repo.unended(created_before=datetime.now(UTC) - timedelta(minutes=5))}
    assert found == {running.id, pending.id}


def test_ended_jobs_are_found_until_their_end_is_announced(repo):
    old = datetime.now(UTC) - timedelta(hours=1)
    running, failed, finished = make_job("acme", at=old), make_job("globex", at=old), make_job("acme", at=old)
    for job in (running, failed, finished):
        repo.create(job)
    repo.transition("acme", running.id, JobStatus.RUNNING)
    repo.transition("globex", failed.id, JobStatus.FAILED, output="The launch step failed: ConnectionError: unreachable")
    repo.transition("acme", finished.id, JobStatus.RUNNING)
    repo.transition("acme", finished.id, JobStatus.FINISHED)
    a_while_ago = datetime.now(UTC) - timedelta(minutes=5)
    assert {j.id for j in repo.unannounced(created_before=a_while_ago)} == {failed.id, finished.id}
    assert repo.claim_announcement("acme", finished.id, CLAIM)
    assert {j.id for j in repo.unannounced(created_before=a_while_ago)} == {failed.id, finished.id}  # claimed, not yet published
    repo.confirm_announcement("acme", finished.id)
    assert repo.claim_announcement("globex", failed.id, CLAIM)
    repo.release_announcement("globex", failed.id)  # a publish that failed
    assert {j.id for j in repo.unannounced(created_before=a_while_ago)} == {failed.id}
    assert {j.id for j in repo.unended(created_before=a_while_ago)} == {running.id}
    assert repo.claim_announcement("globex", failed.id, CLAIM)
    repo.confirm_announcement("globex", failed.id)
    assert list(repo.unannounced(created_before=a_while_ago)) == []


def test_list_pages_newest_first_with_a_cursor(repo):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    ids = []
    for minute in range(7):
        job = make_job(at=base + timedelta(minutes=minute))
        repo.create(job)
        ids.append(job.id)
    repo.create(make_job(tenant="globex", at=base))
    seen, cursor = [], None
    while True:
        page, cursor = repo.list("acme", limit=3, cursor=cursor)
        seen.extend(j.id for j in page)
        if cursor is None:
            break
    assert seen == list(reversed(ids))


def test_list_filters_by_status_type_and_creation_time(repo):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    jobs = [make_job(at=base + timedelta(hours=h), job_type="import_json" if h % 2 else "export") for h in range(6)]
    for job in jobs:
        repo.create(job)
    repo.transition("acme", jobs[1].id, JobStatus.RUNNING)
    repo.transition("acme", jobs[2].id, JobStatus.RUNNING)
    running, _ = repo.list("acme", status=JobStatus.RUNNING)
    assert {j.id for j in running} == {jobs[1].id, jobs[2].id}
    exports, _ = repo.list("acme", job_type="export", limit=2)
    assert [j.id for j in exports] == [jobs[4].id, jobs[2].id]
    window, _ = repo.list("acme", created_after=base + timedelta(hours=2), created_before=base + timedelta(hours=3, minutes=1))
    assert [j.id for j in window] == [jobs[3].id, jobs[2].id]


def test_a_forged_cursor_is_refused(repo):
    import base64
    import json

    def forged(key: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()

    another_tenants = forged({"pk": "T#globex", "sk": "JOB#01JD0000000000000000000000"})  # a well-formed job key
    # The tenant's own, but no job's key: DynamoDB refused it as a start key (a 500 where a 400 is due).
    oversized = forged({"pk": "T#acme", "sk": "JOB#" + "Z" * 5000})
    for cursor in (another_tenants, oversized, "not-a-cursor!"):
        with pytest.raises(MalformedRequest):
            repo.list("acme", cursor=cursor)


def test_idempotency_claims(table, clock):
    records = IdempotencyTable(table, clock)
    assert records.claim("acme", "k1", "hash-a", "JOB1").job_id is None
    with pytest.raises(IdempotencyKeyInUse):
        records.claim("acme", "k1", "hash-a", "JOB2")
    with pytest.raises(IdempotencyKeyReused):
        records.claim("acme", "k1", "hash-b", "JOB2")
    records.complete("acme", "k1", "JOB1")
    assert records.claim("acme", "k1", "hash-a", "JOB2").job_id == "JOB1"
    assert records.claim("globex", "k1", "hash-b", "JOB3").job_id is None
    clock.moment += timedelta(hours=25)
    assert records.claim("acme", "k1", "hash-b", "JOB4") == Claim(job_id=None)


def test_a_claim_left_in_progress_by_a_crashed_request_is_taken_over_after_its_lease(table, clock):
    records = IdempotencyTable(table, clock)
    records.claim("acme", "k2", "hash-a", "JOB1")  # ... and the request died before completing
    clock.moment += CLAIM_LEASE - timedelta(seconds=1)
    with pytest.raises(IdempotencyKeyInUse):
        records.claim("acme", "k2", "hash-a", "JOB2")
    clock.moment += timedelta(seconds=2)
    with pytest.raises(IdempotencyKeyReused):  # another body never takes it over (it would be answered JOB1)
        records.claim("acme", "k2", "hash-b", "JOB2")
    assert records.claim("acme", "k2", "hash-a", "JOB2") == Claim(job_id=None, abandoned_job_id="JOB1")


def test_an_end_is_claimed_once_again_after_a_failed_publish_and_never_after_a_confirmed_one(repo, table, clock):
    job = make_job()
    repo.create(job)
    repo.transition("acme", job.id, JobStatus.FAILED, output="The launch step failed: x")
    assert repo.claim_announcement("acme", job.id, CLAIM) and not repo.claim_announcement("acme", job.id, CLAIM)
    repo.release_announcement("acme", job.id)  # the publish failed
    assert repo.claim_announcement("acme", job.id, CLAIM)
    repo.confirm_announcement("acme", job.id)
    clock.moment += CLAIM * 2
    assert not repo.claim_announcement("acme", job.id, CLAIM)
    repo.release_announcement("acme", "01NOSUCHJOB0000000000000000")  # creates nothing
    repo.confirm_announcement("acme", "01NOSUCHJOB0000000000000000")
    assert table.scan(Select="COUNT")["Count"] == 1


def test_a_claim_whose_caller_died_lapses_and_is_taken_over(repo, clock):
    job = make_job(at=clock.moment - timedelta(hours=1))
    repo.create(job)
    repo.transition("acme", job.id, JobStatus.FAILED, output="The launch step failed: x")
    assert repo.claim_announcement("acme", job.id, CLAIM)  # ... and the process is killed before it publishes
    clock.moment += CLAIM - timedelta(seconds=1)
    assert not repo.claim_announcement("acme", job.id, CLAIM)
    assert [j.id for j in repo.unannounced(created_before=clock.moment)] == [job.id]
    clock.moment += timedelta(seconds=2)
    assert repo.claim_announcement("acme", job.id, CLAIM)


def test_a_notice_is_taken_on_once_unless_released_and_never_for_a_job_that_is_not_there(repo, table):
    job = make_job()
    repo.create(job)
    assert repo.claim_notice("acme", job.id) and not repo.claim_notice("acme", job.id)
    repo.release_notice("acme", job.id)  # the mail service refused it
    assert repo.claim_notice("acme", job.id) and not repo.claim_notice("globex", job.id)
    assert not repo.claim_notice("acme", "01NOSUCHJOB0000000000000000")
    repo.release_notice("acme", "01NOSUCHJOB0000000000000000")  # creates nothing
    assert table.scan(Select="COUNT")["Count"] == 1
