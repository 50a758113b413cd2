"""Procedure jobs on in-memory fakes: the lane, parts in order, a composite stopping at a failed part, the mail."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ferry.core.errors import Busy, InvalidRequest
from ferry.jobs.lifecycle import Lifecycle
from ferry.jobs.model import JobStatus
from ferry.jobs.service import JobService, Submission
from ferry.mail.notices import Mail, MailRefused, procedure_notice, send_once
from ferry.procedures.catalogue import Outcome, RunContext
from ferry.procedures.kinds import LANE, PROCEDURE_KIND
from ferry.procedures.runner import LaneLost, ProcedureRunner
from ferry.tenants.settings import Settings, TenantSettings
from ferry.testing import (
    InMemoryFiles,
    InMemoryIdempotency,
    InMemoryJobs,
    InMemoryLeases,
    InMemoryReferences,
    InMemorySavedItems,
    RecordingEvents,
    RecordingLauncher,
    StillClock,
)


class Part:
    def __init__(self, name: str, fails: bool = False, outcome: Outcome | None = None) -> None:
        self.name, self.fails, self.runs, self.outcome = name, fails, [], outcome

    def __call__(self, run: RunContext) -> Outcome:
        self.runs.append(run.job_id)
        run.report("working")
        if self.fails:
            raise ConnectionError("the ERP did not answer")  # as a real part's error: it does not say which part it is
        return self.outcome or Outcome(f"{self.name} did 3 things.", {"rows": 3})


@pytest.fixture
def parts():
    clock = StillClock(datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
    jobs, files, leases, events = InMemoryJobs(clock), InMemoryFiles(), InMemoryLeases(clock), RecordingEvents()
    service = JobService(jobs, files, RecordingLauncher(), events, InMemoryIdempotency(), InMemoryReferences(), leases, clock)
    lifecycle = Lifecycle(jobs, files, events, leases, clock)
    steps = {name: Part(name) for name in ("LoadFromIntegrator", "SyncDataCreation", "ExportToErp")}
    return service, jobs, leases, events, lifecycle, ProcedureRunner(jobs, leases, lifecycle, steps), steps, clock


def submit(service, procedure: str):
    return service.submit(Submission("acme", PROCEDURE_KIND, PROCEDURE_KIND.args({"procedure": procedure})))[0]


def test_a_composite_runs_its_parts_in_order_and_frees_the_lane(parts):
    service, jobs, leases, events, lifecycle, runner, steps, _ = parts
    job = submit(service, "LoadFromIntegratorAndPrepareSyncData")
    started = runner.start("acme", job.id)
    assert started == {"proceed": True, "parts": ["LoadFromIntegrator", "SyncDataCreation"]}
    for part in started["parts"]:
        assert runner.run_part("acme", job.id, part)
    assert runner.finish("acme", job.id) is JobStatus.FINISHED
    done = jobs.get("acme", job.id)
    assert done.output == "LoadFromIntegrator: LoadFromIntegrator did 3 things. SyncDataCreation: SyncDataCreation did 3 things."
    assert done.progress.processed == 6 and ("acme", LANE) not in leases.held
    events.fail = True
    with pytest.raises(ConnectionError):
        lifecycle.announce("acme", job.id)
    assert events.ended == []  # not published, so not marked: the retry publishes it
    assert lifecycle.announce("acme", job.id) and not lifecycle.announce("acme", job.id)  # once
    assert [e["id"] for e in events.ended] == [job.id]


def test_a_part_leaves_its_summary_in_the_running_output_until_the_job_ends(parts):
    service, jobs, _, _, _, runner, _, _ = parts
    job = submit(service, "LoadFromIntegratorAndPrepareSyncData")
    runner.start("acme", job.id)

    runner.run_part("acme", job.id, "LoadFromIntegrator")
    assert jobs.get("acme", job.id).running_output == "LoadFromIntegrator: LoadFromIntegrator did 3 things."
    runner.run_part("acme", job.id, "SyncDataCreation")
    assert jobs.get("acme", job.id).running_output == "SyncDataCreation: SyncDataCreation did 3 things."
    runner.finish("acme", job.id)

    ended = jobs.get("acme", job.id)
    assert ended.running_output is None and ended.output.endswith("SyncDataCreation: SyncDataCreation did 3 things.")


def test_the_lane_refuses_a_second_command_until_the_first_ends_or_its_lease_expires(parts):
    service, _, _, _, _, runner, steps, clock = parts
    first = submit(service, "ExportToErp")
    with pytest.raises(Busy) as busy:
        submit(service, "GeocodeAddresses")
    assert busy.value.running_job_id == first.id
    runner.start("acme", first.id)
    clock.advance(seconds=PROCEDURE_KIND.lease_seconds + 1)  # the first crashed and never released it
    second = submit(service, "GeocodeAddresses")
    assert second.id != first.id
    with pytest.raises(LaneLost):  # the first's part, retried late, never runs beside the second
        runner.run_part("acme", first.id, "ExportToErp")
    assert steps["ExportToErp"].runs == []


def test_a_failed_part_fails_the_job_naming_it_and_frees_the_lane(parts):
    service, jobs, leases, _, _, runner, steps, _ = parts
    steps["LoadFromIntegrator"].fails = True
    job = submit(service, "LoadFromIntegratorAndPrepareSyncData")
    runner.start("acme", job.id)
    with pytest.raises(ConnectionError):
        runner.run_part("acme", job.id, "LoadFromIntegrator")
    assert runner.fail("acme", job.id, "parts", "ConnectionError: the ERP did not answer") is JobStatus.FAILED
    assert steps["SyncDataCreation"].runs == []
    assert jobs.get("acme", job.id).output == "The parts step failed: LoadFromIntegrator: ConnectionError: the ERP did not answer"
    assert ("acme", LANE) not in leases.held


def test_a_composite_whose_second_part_failed_names_that_part(parts):
    service, jobs, leases, _, _, runner, steps, _ = parts
    steps["SyncDataCreation"].fails = True
    job = submit(service, "LoadFromIntegratorAndPrepareSyncData")
    runner.start("acme", job.id)
    runner.run_part("acme", job.id, "LoadFromIntegrator")
    with pytest.raises(ConnectionError):
        runner.run_part("acme", job.id, "SyncDataCreation")
    assert runner.fail("acme", job.id, "parts", "ConnectionError: the ERP did not answer") is JobStatus.FAILED
    assert jobs.get("acme", job.id).output == "The parts step failed: SyncDataCreation: ConnectionError: the ERP did not answer"
    assert ("acme", LANE) not in leases.held


def test_the_mail_goes_to_the_recipients_of_the_outcome(parts):
    service, jobs, _, events, lifecycle, runner, steps, clock = parts
    settings = TenantSettings.model_validate({"NotificationCenter": {"ErrorRecipients": ["ops@example.org"], "InfoRecipients": ["erp@example.org"]}})
    job = submit(service, "ExportToErp")
    runner.start("acme", job.id)
    clock.advance(seconds=3)
    runner.run_part("acme", job.id, "ExportToErp")
    runner.finish("acme", job.id)
    lifecycle.announce("acme", job.id)
    mail = procedure_notice(events.ended[-1], settings)
    assert mail.to == ["erp@example.org"] and mail.subject == "[Ferry] ExportToErp succeeded"
    assert "Duration: 3.0 s" in mail.body and "3 processed" in mail.body
    steps["ExportToErp"].fails = True
    failed = submit(service, "ExportToErp")
    runner.start("acme", failed.id)
    runner.fail("acme", failed.id, "parts", "ConnectionError: the ERP did not answer")
    lifecycle.announce("acme", failed.id)
    mail = procedure_notice(events.ended[-1], settings)
    assert mail.to == ["ops@example.org"] and "The parts step failed: ExportToErp: ConnectionError" in mail.body
    assert procedure_notice(events.ended[-1], TenantSettings()) is None  # nobody to tell


class Outbox:
    def __init__(self) -> None:
        self.sent, self.refusing = [], False

    def send(self, mail) -> None:
        if self.refusing:
            raise ConnectionError("the mail service hung up")
        self.sent.append(mail)


def test_a_job_end_told_twice_is_mailed_once_and_a_refused_mail_goes_with_a_repeat(parts):
    service, jobs, *_ = parts
    outbox, mail = Outbox(), Mail(["erp@example.org"], "[Ferry] ExportToErp succeeded", "...")
    told = submit(service, "ExportToErp")
    assert send_once(mail, "acme", told.id, jobs, outbox) is True
    assert send_once(mail, "acme", told.id, jobs, outbox) is False  # the same Job Ended, delivered again
    refused = service.submit(Submission("globex", PROCEDURE_KIND, PROCEDURE_KIND.args({"procedure": "ExportToErp"})))[0]
    outbox.refusing = True
    with pytest.raises(MailRefused, match="ConnectionError: the mail service hung up"):
        send_once(mail, "globex", refused.id, jobs, outbox)
    outbox.refusing = False
    assert send_once(mail, "globex", refused.id, jobs, outbox) is True
    assert len(outbox.sent) == 2


def test_settings_refuse_what_is_not_an_address():
    with pytest.raises(Exception):
        TenantSettings.model_validate({"NotificationCenter": {"ErrorRecipients": ["not an address"]}})


@pytest.mark.parametrize(
    "address",
    [".ops@example.org", "ops.@example.org", "o..ps@example.org", "o\x01ps@example.org", "op(s)@example.org", "o:ps@example.org", "ops@-example.org", "ops@example-.org", "jörg@example.org", "ops\u00a0@example.org", "ops@example.org\n"],
)
def test_settings_refuse_addresses_a_mail_server_would_naming_the_field(address):
    with pytest.raises(InvalidRequest) as refused:
        Settings(InMemorySavedItems()).put("acme", {"NotificationCenter": {"ErrorRecipients": ["ops@example.org", address]}})
    assert [e.pointer for e in refused.value.errors] == ["/NotificationCenter/ErrorRecipients/1"]


def test_settings_saved_before_the_stricter_check_are_still_read():
    saved = InMemorySavedItems()
    saved.put("acme", "settings", "tenant", {"NotificationCenter": {"ErrorRecipients": [".ops@example.org"], "InfoRecipients": []}}, new=True)
    assert Settings(saved).get("acme").NotificationCenter.ErrorRecipients == [".ops@example.org"]  # a read never fails on it
    with pytest.raises(InvalidRequest):  # given again, it is checked
        Settings(saved).put("acme", {"NotificationCenter": {"ErrorRecipients": [".ops@example.org"]}})


def test_settings_take_dotted_tagged_and_hyphenated_addresses():
    addresses = ["first.last+erp@mail.example.co.uk", "o'brien_ops@my-erp.example.org"]
    assert Settings(InMemorySavedItems()).put("acme", {"NotificationCenter": {"InfoRecipients": addresses}}).NotificationCenter.InfoRecipients == addresses


def test_every_refused_row_counts_though_only_some_are_named(parts):
    service, jobs, _, _, _, runner, steps, _ = parts
    steps["LoadFromIntegrator"].outcome = Outcome("Loaded 5000 rows; 4000 refused.", {"loaded": 1000, "refused": 4000}, 4000, ["row 7: name missing"] * 10)
    job = submit(service, "LoadFromIntegrator")
    runner.start("acme", job.id)
    runner.run_part("acme", job.id, "LoadFromIntegrator")
    runner.finish("acme", job.id)
    progress = jobs.get("acme", job.id).progress
    assert (progress.processed, progress.succeeded, progress.failed) == (5000, 1000, 4000)


def test_a_procedure_whose_items_all_failed_is_failed_and_names_what_went_wrong(parts):
    service, jobs, _, events, lifecycle, runner, steps, _ = parts
    settings = TenantSettings.model_validate({"NotificationCenter": {"ErrorRecipients": ["ops@example.org"], "InfoRecipients": ["erp@example.org"]}})
    steps["ExportToErp"].outcome = Outcome("Orders: 0 written to the ERP, 0 already there, 3 refused by it.", {"written": 0, "refused": 3}, 3, ["order A: no such account", "order B: no such item"])
    job = submit(service, "ExportToErp")
    runner.start("acme", job.id)
    runner.run_part("acme", job.id, "ExportToErp")
    assert runner.finish("acme", job.id) is JobStatus.FAILED
    failed = jobs.get("acme", job.id)
    assert [(e.code, e.message) for e in failed.errors] == [("ExportToErp", "order A: no such account"), ("ExportToErp", "order B: no such item")]
    assert failed.error_count == 3 and failed.output == "ExportToErp: Orders: 0 written to the ERP, 0 already there, 3 refused by it."
    lifecycle.announce("acme", job.id)
    mail = procedure_notice(events.ended[-1], settings)
    assert mail.to == ["ops@example.org"] and mail.subject == "[Ferry] ExportToErp failed"
    assert "3 items failed; the first 2:\n- order A: no such account\n- order B: no such item\n" in mail.body


def test_a_procedure_with_some_items_failed_finishes_and_names_them(parts):
    service, jobs, _, events, lifecycle, runner, steps, _ = parts
    settings = TenantSettings.model_validate({"NotificationCenter": {"InfoRecipients": ["erp@example.org"]}})
    steps["ExportToErp"].outcome = Outcome("Orders: 2 written to the ERP, 0 already there, 1 refused by it.", {"written": 2, "refused": 1}, 1, ["order C: no such item"])
    job = submit(service, "ExportToErp")
    runner.start("acme", job.id)
    runner.run_part("acme", job.id, "ExportToErp")
    assert runner.finish("acme", job.id) is JobStatus.FINISHED
    assert [e.message for e in jobs.get("acme", job.id).errors] == ["order C: no such item"]
    lifecycle.announce("acme", job.id)
    assert "\n1 item failed:\n- order C: no such item\n" in procedure_notice(events.ended[-1], settings).body


def test_a_retried_console_submit_finds_its_job_and_a_refused_one_frees_the_lane(parts):
    _, jobs, leases, _, lifecycle, _, _, _ = parts
    started = datetime(2026, 11, 22, 3, 0, 1, tzinfo=UTC)
    request = {"kind": "procedure", "tenant": "acme", "args": {"procedure": "ExportToErp"}}
    first = lifecycle.submit("operator-run-1", request, started)
    assert lifecycle.submit("operator-run-1", request, started) == first  # the step retried after a lost answer
    assert jobs.get("acme", first["id"]).execution_name == "operator-run-1"
    leases.release("acme", LANE, first["id"])
    with pytest.raises(InvalidRequest):
        lifecycle.submit("operator-run-2", {**request, "input": "uploads/acme/no-such-file.csv"}, started)
    assert ("acme", LANE) not in leases.held
    with pytest.raises(InvalidRequest):  # a tenant id with a line break after it is no tenant's
        lifecycle.submit("operator-run-3", {**request, "tenant": "acme\n"}, started)


@pytest.mark.parametrize("ends", ["finish", "fail"])
def test_a_run_that_reads_ended_has_freed_the_lane_so_the_next_command_starts_at_once(parts, ends):
    # A client that sees the job ended and starts the next command must not be told one is still running.
    service, jobs, leases, _, _, runner, _, _ = parts
    job = submit(service, "ExportToErp")
    runner.start("acme", job.id)
    runner.run_part("acme", job.id, "ExportToErp")
    lane_when_ended = []
    transition = jobs.transition

    def watched(tenant, job_id, to, **fields):
        if to.ended:
            lane_when_ended.append(leases.held.get(("acme", LANE)))
        return transition(tenant, job_id, to, **fields)

    jobs.transition = watched
    runner.finish("acme", job.id) if ends == "finish" else runner.fail("acme", job.id, "parts", "ERP unreachable")
    assert lane_when_ended == [None]
    assert submit(service, "ExportToErp").status is JobStatus.PENDING
