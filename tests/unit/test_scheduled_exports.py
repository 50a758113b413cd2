"""Seed 003's nightly tick on fakes: one configuration that cannot start never stops the others, a
cancelled night runs again, a `Job Ended` delivered twice mails once. (The runs themselves, through
the local stack to a real SFTP server, are in tests/e2e/test_scheduled_exports.py.)"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ferry.core.clock import parse_rfc3339
from ferry.core.errors import Conflict, InvalidRequest
from ferry.datatypes.registry import named
from ferry.destinations.catalogue import Destinations
from ferry.jobs.lifecycle import announce_ended
from ferry.jobs.model import Job, JobStatus
from ferry.jobs.resource import job_resource
from ferry.jobs.service import JobService
from ferry.jobs.sweeper import Sweeper
from ferry.mail.notices import Mail
from ferry.schedules.service import ScheduledExports
from ferry.tenants.settings import Settings
from ferry.testing import (
    InMemoryFiles,
    InMemoryIdempotency,
    InMemoryJobs,
    InMemoryLeases,
    InMemorySavedItems,
    InMemorySecrets,
    RecordingEvents,
    RecordingLauncher,
    StillClock,
)

NIGHT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 03:00 in Rome


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[Mail] = []

    def send(self, mail: Mail) -> None:
        self.sent.append(mail)


@pytest.fixture
def world():
    return make_world(RecordingLauncher(), RecordingEvents())


def make_world(launcher: RecordingLauncher, events: RecordingEvents):
    clock = StillClock(NIGHT)
    saved, jobs, leases, mailer = InMemorySavedItems(), InMemoryJobs(clock), InMemoryLeases(clock), RecordingMailer()
    service = JobService(jobs, InMemoryFiles(), launcher, events, InMemoryIdempotency(), saved, leases, clock)
    destinations = Destinations(saved, InMemorySecrets(), lambda *_: None, clock)
    settings = Settings(saved)
    scheduled = ScheduledExports(saved, destinations, settings, service, leases, lambda: mailer, clock, "Europe/Rome")
    return scheduled, jobs, saved, settings, mailer, clock


def job_ended(job: Job) -> dict[str, Any]:
    """The detail of the `Job Ended` event EventBridge delivers."""
    return {**job_resource(job), "tenant": job.tenant}


def configure(scheduled: ScheduledExports, settings: Settings, tenant: str) -> dict[str, Any]:
    settings.put(tenant, {"technicalContact": f"it@{tenant}.example.org"})
    profile = scheduled.create_profile(tenant, {"name": "bucket", "type": "s3", "prefix": "crm"})
    return scheduled.put_config(tenant, named("Customers").name, {"active": True, "profileId": profile["id"], "interval": "daily"})


def test_a_configuration_that_cannot_start_is_deactivated_and_the_others_still_run(world):
    scheduled, _, saved, settings, mailer, _ = world
    broken = configure(scheduled, settings, "acme")
    configure(scheduled, settings, "globex")
    saved.delete("acme", "destination", broken["profileId"])  # gone behind the configuration's back
    tick = scheduled.tick(NIGHT)
    assert len(tick.started) == 1 and [r["tenant"] for r in tick.refused] == ["acme"]
    acme = scheduled.config("acme", "Customers")
    assert acme["active"] is False and acme["lastFailure"]["phase"] == "submit"
    assert [m.to for m in mailer.sent] == [["it@acme.example.org"]]
    assert scheduled.tick(NIGHT).started == []  # globex's night ran; acme's stays off until saved again


def test_a_profile_an_active_configuration_uses_cannot_be_deleted_by_either_route(world):
    scheduled, _, _, settings, _, _ = world
    config = configure(scheduled, settings, "acme")
    with pytest.raises(Conflict, match="Customers"):
        scheduled.delete_profile("acme", config["profileId"])
    with pytest.raises(Conflict, match="Customers"):
        scheduled.delete_destination("acme", config["profileId"])  # DELETE /destinations/{id}: the same profile
    assert scheduled.config("acme", "Customers")["active"] and scheduled.profile("acme", config["profileId"])


def test_the_plan_counts_export_profiles_and_a_configuration_takes_only_a_profile(world):
    scheduled, _, _, settings, _, _ = world
    destinations = scheduled._destinations  # what POST /destinations creates: seed 001's, not a profile
    plain = destinations.create("acme", {"name": "datasets", "type": "s3", "prefix": "abs"})
    configure(scheduled, settings, "acme")  # the enterprise plan's one profile
    with pytest.raises(InvalidRequest, match="enterprise plan allows 1"):
        scheduled.create_profile("acme", {"name": "another", "type": "s3", "prefix": "more"})
    destinations.create("acme", {"name": "more datasets", "type": "s3", "prefix": "abs2"})  # not counted
    assert len(scheduled.profiles("acme")) == 1 and len(destinations.list("acme")) == 3
    for profile_id in (plain["id"], "nope"):
        with pytest.raises(InvalidRequest) as refused:
            scheduled.put_config("acme", "Contacts", {"active": True, "profileId": profile_id, "interval": "daily"})
        assert [e.pointer for e in refused.value.errors] == ["/profileId"]


def test_a_destination_saved_before_profiles_were_told_apart_is_still_a_profile(world):
    scheduled, _, saved, _, _, _ = world
    made = scheduled.create_profile("acme", {"name": "bucket", "type": "s3", "prefix": "crm"})
    saved.update("acme", "destination", made["id"], lambda record: {k: v for k, v in record.items() if k != "profile"})
    assert [p["id"] for p in scheduled.profiles("acme")] == [made["id"]] and scheduled.profile("acme", made["id"])["profile"]
    assert scheduled.put_config("acme", "Contacts", {"active": True, "profileId": made["id"], "interval": "daily"})["active"]


def test_a_cancelled_night_runs_again_at_the_next_tick(world):
    scheduled, jobs, _, settings, _, clock = world
    configure(scheduled, settings, "acme")
    [first] = scheduled.tick(NIGHT).started
    jobs.transition("acme", first, JobStatus.CANCELLING)
    cancelled = jobs.transition("acme", first, JobStatus.CANCELLED)
    scheduled.ended(job_ended(cancelled))
    clock.advance(hours=1)
    tick = scheduled.tick(clock.now())
    assert len(tick.started) == 1 and tick.started != [first] and tick.refused == tick.postponed == []


def test_a_failed_run_deactivates_and_mails_once_though_its_end_arrives_twice(world):
    scheduled, jobs, _, settings, mailer, _ = world
    configure(scheduled, settings, "acme")
    [job_id] = scheduled.tick(NIGHT).started
    jobs.transition("acme", job_id, JobStatus.RUNNING)
    failed = job_ended(jobs.transition("acme", job_id, JobStatus.FAILED, output="Export failed: the upload phase failed: disk full"))
    scheduled.ended(failed)
    scheduled.ended(failed)
    assert len(mailer.sent) == 1 and "disk full" in mailer.sent[0].body
    assert scheduled.config("acme", "Customers")["lastFailure"] == {"phase": "upload", "reason": "disk full"}
    assert [h["ok"] for h in scheduled.history("acme")] == [False]


def test_a_night_that_could_not_be_launched_is_recorded_deactivated_and_mailed_once():
    launcher, events = RecordingLauncher(), RecordingEvents()
    scheduled, jobs, _, settings, mailer, _ = make_world(launcher, events)
    configure(scheduled, settings, "acme")
    launcher.fail = True
    tick = scheduled.tick(NIGHT)
    assert tick.started == [] and [r["tenant"] for r in tick.refused] == ["acme"]
    [ended] = events.ended  # what EventBridge delivers back to the scheduler
    scheduled.ended({**ended, "tenant": "acme"})
    assert len(mailer.sent) == 1 and "Phase: launch" in mailer.sent[0].body and "Reason: EndpointConnectionError" in mailer.sent[0].body
    assert scheduled.config("acme", "Customers")["active"] is False
    assert [(h["id"], h["ok"]) for h in scheduled.history("acme")] == [(ended["id"], False)]


def test_a_night_that_could_neither_be_launched_nor_announced_ends_failed_naming_the_launch_once_the_sweeper_announces_it():
    launcher, events = RecordingLauncher(), RecordingEvents()
    scheduled, jobs, _, settings, mailer, clock = make_world(launcher, events)
    configure(scheduled, settings, "acme")
    launcher.fail = events.fail = True  # AWS out of reach for a moment: no execution, and no Job Ended of its failure
    assert [r["tenant"] for r in scheduled.tick(NIGHT).refused] == ["acme"]
    assert events.ended == [] and scheduled.history("acme") == []
    sweeper = Sweeper(jobs, launcher, InMemoryLeases(clock), lambda tenant, job_id: announce_ended(jobs, events, tenant, job_id), clock)

    def deliver() -> None:
        """EventBridge hands every Job Ended published so far to the scheduler (at least once)."""
        for ended in events.ended:
            scheduled.ended({**ended, "tenant": "acme"})

    clock.advance(minutes=5)  # the sweeper's next run
    sweeper.sweep(timedelta(minutes=2))
    deliver()
    [night] = scheduled.history("acme")
    assert night["ok"] is False and night["details"]["status"] == "failed"
    assert night["details"]["failure"] == {"phase": "launch", "reason": "EndpointConnectionError"}
    config = scheduled.config("acme", "Customers")
    assert config["active"] is False and config["lastFailure"] == night["details"]["failure"]
    [mail] = mailer.sent
    assert "Phase: launch" in mail.body and "Reason: EndpointConnectionError" in mail.body

    clock.advance(minutes=5)
    sweeper.sweep(timedelta(minutes=2))  # announced once...
    deliver()  # ...and a repeated delivery is the same night
    assert len(events.ended) == 1 and len(mailer.sent) == 1 and len(scheduled.history("acme")) == 1
    launcher.fail = False
    clock.advance(hours=1)
    assert scheduled.tick(clock.now()).started == []  # deactivated until saved active again


def test_appointments_take_their_window_from_the_tenants_own_date(world):
    scheduled, jobs, _, settings, _, _ = world
    settings.put("kiwi", {"timeZone": "Pacific/Auckland"})
    profile = scheduled.create_profile("kiwi", {"name": "bucket", "type": "s3"})
    scheduled.put_config("kiwi", "Appointments", {"active": True, "profileId": profile["id"], "period": {"daysBefore": 1, "daysAfter": 2}})
    # 03:00 on 23 November in Auckland (UTC+13) is still the 22nd in UTC.
    [job_id] = scheduled.tick(datetime(2026, 11, 22, 14, 0, tzinfo=UTC)).started
    assert jobs.get("kiwi", job_id).args["filter"] == {"date": {"$gte": "2026-11-22", "$lte": "2026-11-25"}}


def test_saving_a_configuration_keeps_where_its_runs_are(world):
    scheduled, jobs, _, settings, _, _ = world
    config = configure(scheduled, settings, "acme")
    [job_id] = scheduled.tick(NIGHT).started
    jobs.transition("acme", job_id, JobStatus.RUNNING)
    scheduled.ended(job_ended(jobs.transition("acme", job_id, JobStatus.FINISHED)))
    saved = scheduled.put_config("acme", "Customers", {**{k: config[k] for k in ("active", "profileId", "interval")}, "prefix": "crm_"})
    assert saved["lastRunNight"] == "2026-11-23" and saved["watermark"] and saved["prefix"] == "crm_"
    assert scheduled.config("acme", "Customers") == saved


def test_a_night_stops_before_the_oldest_write_still_under_way_and_the_next_starts_there(world):
    scheduled, jobs, _, settings, _, clock = world
    configure(scheduled, settings, "acme")
    configure(scheduled, settings, "globex")
    writing = Job.pending("01WRITER000000000000000000", "acme", "import_json", {}, clock.now() - timedelta(minutes=30), None, None)
    jobs.create(writing)
    jobs.transition("acme", writing.id, JobStatus.RUNNING)  # started now: its rows are stamped from now on
    reading = Job.pending("01READER000000000000000000", "acme", "export_csv", {}, clock.now(), None, None)
    jobs.create(reading)
    jobs.transition("acme", reading.id, JobStatus.RUNNING)  # an export writes no records: it holds nothing back
    started_writing = clock.now()
    clock.advance(minutes=10)

    tick = scheduled.tick(clock.now())
    started = {tenant: job for tenant in ("acme", "globex") for job in jobs.list(tenant, limit=100)[0] if job.id in tick.started}

    # acme's run stops where the import began, so rows it stamped and commits later go to the next night...
    assert parse_rfc3339(started["acme"].args["changedBefore"]) == started_writing
    # ...while globex, with nothing being written, reads up to now.
    assert parse_rfc3339(started["globex"].args["changedBefore"]) == clock.now()


def test_a_prefix_with_a_line_break_is_refused_naming_it(world):
    # A file name holding a line break would land on the customer's server as such.
    scheduled, _, _, settings, _, _ = world
    config = configure(scheduled, settings, "acme")
    with pytest.raises(InvalidRequest) as refused:
        scheduled.put_config("acme", "Customers", {**{k: config[k] for k in ("active", "profileId", "interval")}, "prefix": "crm_\n"})
    assert [e.pointer for e in refused.value.errors] == ["/prefix"]


def test_a_failure_told_after_a_later_run_exported_its_night_stops_nothing(world):
    # The night's first run failed and its Job Ended could not go out for hours (EventBridge out of reach); its lease
    # lapsed, a second run exported the night, then the sweeper told of the first at last.
    scheduled, jobs, _, settings, mailer, clock = world
    configure(scheduled, settings, "acme")
    [first] = scheduled.tick(NIGHT).started
    untold = job_ended(jobs.transition("acme", first, JobStatus.FAILED, output="The launch step failed: EndpointConnectionError"))
    clock.advance(hours=7)
    [second] = scheduled.tick(clock.now()).started
    jobs.transition("acme", second, JobStatus.RUNNING)
    scheduled.ended(job_ended(jobs.transition("acme", second, JobStatus.FINISHED)))
    scheduled.ended(untold)
    config = scheduled.config("acme", "Customers")
    assert config["active"] is True and config["lastFailure"] is None and mailer.sent == []
    assert sorted(h["ok"] for h in scheduled.history("acme")) == [False, True]  # both runs are in the history, as they ended


def test_a_test_runs_end_is_recorded_once_the_configuration_has_exported_a_night(world):
    # A test run has no night (None): its end must be compared with no night, nor crash the scheduler.
    scheduled, jobs, _, settings, mailer, _ = world
    configure(scheduled, settings, "acme")
    [night] = scheduled.tick(NIGHT).started
    jobs.transition("acme", night, JobStatus.RUNNING)
    scheduled.ended(job_ended(jobs.transition("acme", night, JobStatus.FINISHED)))
    [test] = scheduled.test("acme", ["Customers"])
    jobs.transition("acme", test, JobStatus.RUNNING)
    scheduled.ended(job_ended(jobs.transition("acme", test, JobStatus.FAILED, output="Export failed: the upload phase failed: disk full")))
    assert sorted((h["test"], h["ok"]) for h in scheduled.history("acme")) == [(False, True), (True, False)]
    assert scheduled.config("acme", "Customers")["active"] is True and mailer.sent == []
