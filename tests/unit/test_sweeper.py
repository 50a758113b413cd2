"""The sweeper ends the jobs nothing runs any more, and only those."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ferry.core.errors import InvalidTransition
from ferry.jobs.model import Job, JobStatus
from ferry.jobs.sweeper import Sweeper
from ferry.testing import InMemoryLeases, StillClock

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


class Jobs:
    def __init__(self, *jobs: Job) -> None:
        self.jobs = {job.id: job for job in jobs}

    def unended(self, created_before: datetime) -> list[Job]:
        return [j for j in self.jobs.values() if not j.status.ended and j.created_at < created_before]

    def transition(self, tenant: str, job_id: str, to: JobStatus, **fields: object) -> Job:
        job = self.jobs[job_id]
        if job.status.ended:
            raise InvalidTransition(job_id, to.value, job.status.value)
        self.jobs[job_id] = Job(**{**vars(job), "status": to, **fields})
        return self.jobs[job_id]


class Executions:
    def __init__(self, statuses: dict[str, str | None]) -> None:
        self.statuses = statuses

    def status(self, job: Job) -> str | None:
        return self.statuses.get(job.id)


def job(job_id: str, status: JobStatus, age: timedelta) -> Job:
    return Job(job_id, "acme", "import_json", status, {}, NOW - age, NOW - age)


def test_jobs_whose_execution_ended_or_never_started_end_failed_with_the_reason():
    jobs = Jobs(
        job("running-aborted", JobStatus.RUNNING, timedelta(hours=1)),
        job("pending-never-launched", JobStatus.PENDING, timedelta(minutes=10)),
        job("cancelling-timed-out", JobStatus.CANCELLING, timedelta(minutes=10)),
        job("still-running", JobStatus.RUNNING, timedelta(hours=1)),
        job("too-young", JobStatus.PENDING, timedelta(seconds=30)),
        job("finished", JobStatus.FINISHED, timedelta(hours=1)),
    )
    executions = Executions({"running-aborted": "ABORTED", "cancelling-timed-out": "TIMED_OUT", "still-running": "RUNNING", "finished": "SUCCEEDED"})
    swept = Sweeper(jobs, executions, InMemoryLeases(StillClock(NOW)), Clock()).sweep(older_than=timedelta(minutes=2))
    assert sorted(s.job.id for s in swept) == ["cancelling-timed-out", "pending-never-launched", "running-aborted"]
    assert jobs.jobs["running-aborted"].status is JobStatus.FAILED
    assert "ended ABORTED while the job was still running" in jobs.jobs["running-aborted"].output
    assert "was never started" in jobs.jobs["pending-never-launched"].output
    assert jobs.jobs["still-running"].status is JobStatus.RUNNING
    assert jobs.jobs["too-young"].status is JobStatus.PENDING


def test_a_job_that_ends_on_its_own_meanwhile_is_left_alone():
    class EndsMeanwhile(Jobs):
        def transition(self, tenant, job_id, to, **fields):
            raise InvalidTransition(job_id, to.value, "finished")

    jobs = EndsMeanwhile(job("racing", JobStatus.RUNNING, timedelta(hours=1)))
    assert Sweeper(jobs, Executions({"racing": "SUCCEEDED"}), InMemoryLeases(StillClock(NOW)), Clock()).sweep(timedelta(minutes=2)) == []


def test_a_swept_job_lets_go_of_its_lane_and_of_no_other_jobs():
    swept = Job("dead-run", "acme", "procedure", JobStatus.RUNNING, {"procedure": "ExportToErp"}, NOW - timedelta(minutes=5), NOW)
    leases = InMemoryLeases(StillClock(NOW))
    leases.acquire("acme", "procedures", "dead-run", 20 * 60)
    leases.acquire("other", "procedures", "another-tenants-run", 20 * 60)

    Sweeper(Jobs(swept), Executions({"dead-run": "ABORTED"}), leases, Clock()).sweep(timedelta(minutes=2))

    # The next command is not refused as if the failed job still ran; the other tenant's lease stays.
    assert leases.acquire("acme", "procedures", "next-run", 20 * 60) is None
    assert leases.acquire("other", "procedures", "next-run", 20 * 60) == "another-tenants-run"


def test_a_lease_that_cannot_be_let_go_of_never_stops_the_sweep():
    class Unreachable(InMemoryLeases):
        def release(self, tenant, lane, holder):
            raise ConnectionError("DynamoDB is unreachable")

    dead = [Job(f"dead-{n}", "acme", "procedure", JobStatus.RUNNING, {"procedure": "ExportToErp"}, NOW - timedelta(minutes=5), NOW) for n in range(2)]
    swept = Sweeper(Jobs(*dead), Executions({}), Unreachable(StillClock(NOW)), Clock()).sweep(timedelta(minutes=2))
    assert sorted(s.job.id for s in swept) == ["dead-0", "dead-1"]  # both ended, both to be announced
