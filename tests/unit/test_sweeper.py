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
        self.announced: list[str] = []

    def unended(self, created_before: datetime) -> list[Job]:
        return [j for j in self.jobs.values() if not j.status.ended and j.created_at < created_before]

    def unannounced(self, created_before: datetime) -> list[Job]:
        return [j for j in self.jobs.values() if j.status.ended and j.id not in self.announced and j.created_at < created_before]

    def announce(self, tenant: str, job_id: str) -> bool:
        """Lifecycle.announce: publishes `Job Ended` once, for an ended job."""
        if not self.jobs[job_id].status.ended or job_id in self.announced:
            return False
        self.announced.append(job_id)
        return True

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
    swept = Sweeper(jobs, executions, InMemoryLeases(StillClock(NOW)), jobs.announce, Clock()).sweep(older_than=timedelta(minutes=2))
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
    assert Sweeper(jobs, Executions({"racing": "SUCCEEDED"}), InMemoryLeases(StillClock(NOW)), jobs.announce, Clock()).sweep(timedelta(minutes=2)) == []


def test_a_swept_job_lets_go_of_its_lane_and_of_no_other_jobs():
    swept = Job("dead-run", "acme", "procedure", JobStatus.RUNNING, {"procedure": "ExportToErp"}, NOW - timedelta(minutes=5), NOW)
    leases = InMemoryLeases(StillClock(NOW))
    leases.acquire("acme", "procedures", "dead-run", 20 * 60)
    leases.acquire("other", "procedures", "another-tenants-run", 20 * 60)

    jobs = Jobs(swept)
    Sweeper(jobs, Executions({"dead-run": "ABORTED"}), leases, jobs.announce, Clock()).sweep(timedelta(minutes=2))

    # The next command is not refused as if the failed job still ran; the other tenant's lease stays.
    assert leases.acquire("acme", "procedures", "next-run", 20 * 60) is None
    assert leases.acquire("other", "procedures", "next-run", 20 * 60) == "another-tenants-run"


def test_a_lease_that_cannot_be_let_go_of_never_stops_the_sweep():
    class Unreachable(InMemoryLeases):
        def release(self, tenant, lane, holder):
            raise ConnectionError("DynamoDB is unreachable")

    dead = [Job(f"dead-{n}", "acme", "procedure", JobStatus.RUNNING, {"procedure": "ExportToErp"}, NOW - timedelta(minutes=5), NOW) for n in range(2)]
    jobs = Jobs(*dead)
    swept = Sweeper(jobs, Executions({}), Unreachable(StillClock(NOW)), jobs.announce, Clock()).sweep(timedelta(minutes=2))
    assert sorted(s.job.id for s in swept) == ["dead-0", "dead-1"]
    assert sorted(jobs.announced) == ["dead-0", "dead-1"]  # both ended, both announced


def test_a_job_whose_end_was_never_announced_is_announced_once_and_a_publish_that_fails_never_stops_the_sweep():
    # Ended (a launch that failed, a MarkFailed whose publish kept failing) while EventBridge was out of reach:
    # nothing else will ever publish its Job Ended, and a scheduled night, a procedure's mails wait on it.
    class EventBridgeDownFor(Jobs):
        def __init__(self, unreachable: set[str], *jobs: Job) -> None:
            super().__init__(*jobs)
            self.unreachable = unreachable

        def announce(self, tenant: str, job_id: str) -> bool:
            if job_id in self.unreachable:
                raise ConnectionError("EventBridge is unreachable")
            return super().announce(tenant, job_id)

    jobs = EventBridgeDownFor(
        {"unlucky"},
        job("unlucky", JobStatus.FAILED, timedelta(minutes=10)),
        job("never-launched", JobStatus.FAILED, timedelta(minutes=10)),
        job("finished-unannounced", JobStatus.FINISHED, timedelta(hours=1)),
        job("ended-a-moment-ago", JobStatus.FAILED, timedelta(seconds=30)),  # its own announcement may still be on its way
    )
    sweeper = Sweeper(jobs, Executions({}), InMemoryLeases(StillClock(NOW)), jobs.announce, Clock())
    assert sweeper.sweep(timedelta(minutes=2)) == []  # nothing was left running
    assert sorted(jobs.announced) == ["finished-unannounced", "never-launched"]
    jobs.unreachable.clear()
    sweeper.sweep(timedelta(minutes=2))
    assert sorted(jobs.announced) == ["finished-unannounced", "never-launched", "unlucky"]  # each once


def test_an_end_whose_publisher_died_before_publishing_is_published_by_the_sweeper_once_its_claim_lapses():
    from ferry.jobs.lifecycle import ANNOUNCEMENT_CLAIM, announce_ended
    from ferry.testing import InMemoryJobs, RecordingEvents

    clock = StillClock(NOW)
    jobs, events = InMemoryJobs(clock), RecordingEvents()
    jobs.create(job("night", JobStatus.PENDING, timedelta(minutes=10)))
    jobs.transition("acme", "night", JobStatus.FAILED, output="The launch step failed: ConnectionError: unreachable")
    # The API took on publishing it, then was killed (its 29 s ran out in a slow publish) before it could.
    assert jobs.claim_announcement("acme", "night", ANNOUNCEMENT_CLAIM)
    sweeper = Sweeper(jobs, Executions({}), InMemoryLeases(clock), lambda t, j: announce_ended(jobs, events, t, j), clock)
    sweeper.sweep(timedelta(minutes=2))
    assert events.ended == []  # its claim may still be publishing
    clock.advance(seconds=ANNOUNCEMENT_CLAIM.total_seconds() + 1)
    sweeper.sweep(timedelta(minutes=2))
    sweeper.sweep(timedelta(minutes=2))
    assert [view["id"] for view in events.ended] == ["night"]  # published, once
