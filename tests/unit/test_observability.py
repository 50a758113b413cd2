"""What an operator reads about a job: the JSON log lines at INFO and WARNING, and the EMF metrics."""
from __future__ import annotations

import io
import json
import logging

import pytest

from ferry.core import observability
from ferry.core.errors import ServiceUnavailable
from ferry.core.observability import logger
from ferry.jobs.kinds import UnknownKind
from ferry.jobs.lifecycle import Lifecycle
from ferry.jobs.model import JobStatus
from ferry.testing import InMemoryLeases, RecordingEvents, StillClock
from tests.e2e.rows import customer
from tests.unit.test_import_runner import chunks_of, parts, runner_of, submit  # noqa: F401 - parts is a fixture


@pytest.fixture
def operator_log():
    """The log lines as CloudWatch gets them (Powertools' JSON), at INFO: `FERRY_LOG_LEVEL=INFO`, the template's default."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.addHandler(handler)
    logger.setLevel("INFO")
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def emf(monkeypatch, capsys):
    """The metrics as Lambda would ship them: EMF documents printed on stdout."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Ferry")

    def read() -> list[dict]:
        lines = capsys.readouterr().out.splitlines()
        return [document for document in map(json.loads, lines) if "_aws" in document]

    return read


def _lines(log, message):
    return [line for line in log() if line["message"] == message]


def test_a_finished_import_tells_its_life_at_info_with_counts_and_keys(parts, operator_log, emf):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(n) for n in range(25)] + [customer(99, name=12)])
    runner = runner_of(jobs, files, store, chunk_rows=10)
    assert runner._lifecycle.start("acme", job.id)
    for chunk in chunks_of(runner.plan("acme", job.id), files):
        runner.run_chunk("acme", job.id, chunk)
    assert runner.finish("acme", job.id) is JobStatus.FINISHED
    assert runner._lifecycle.announce("acme", job.id)

    keys = {"tenant": "acme", "job_id": job.id, "kind": "import_json"}
    [started] = _lines(operator_log, "job started")
    assert started["level"] == "INFO" and started.items() >= keys.items()
    chunks = _lines(operator_log, "chunk done")
    assert [(c["chunk"], c["rows"], c["succeeded"], c["failed"]) for c in chunks] == [(0, 10, 10, 0), (1, 10, 10, 0), (2, 6, 5, 1)]
    assert all(c.items() >= keys.items() and isinstance(c["duration_ms"], int) for c in chunks)
    [ended] = _lines(operator_log, "job ended")
    assert ended["level"] == "INFO" and ended.items() >= keys.items()
    assert (ended["status"], ended["total"], ended["succeeded"], ended["failed"]) == ("finished", 26, 25, 1)
    assert "duration_ms" in ended
    # Counts and keys only: no row's contents reach the log.
    assert "C0000099" not in json.dumps(operator_log())

    metrics = emf()
    ended_metrics = [m for m in metrics if "RowsImported" in m]
    assert len(ended_metrics) == 1, "a job's rows are counted once"
    [document] = ended_metrics
    assert (document["kind"], document["RowsImported"], document["RowsRejected"]) == ("import_json", [25.0], [1.0])
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Ferry" and directive["Dimensions"] == [["kind"]]
    units = {m["Name"]: m["Unit"] for d in metrics for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["JobDuration"] == units["ChunkDuration"] == "Milliseconds"
    assert sum(1 for d in metrics if "ChunkDuration" in d) == 3


def test_a_repeated_announce_counts_nothing_twice(parts, emf):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(1)])
    runner = runner_of(jobs, files, store, chunk_rows=10)
    assert runner._lifecycle.start("acme", job.id)
    for chunk in chunks_of(runner.plan("acme", job.id), files):
        runner.run_chunk("acme", job.id, chunk)
    runner.finish("acme", job.id)
    assert runner._lifecycle.announce("acme", job.id)
    assert not runner._lifecycle.announce("acme", job.id)  # the sweeper, or a retried step
    assert sum(1 for d in emf() if "RowsImported" in d) == 1


def test_a_failed_job_says_at_warning_which_step_failed_and_why(parts, operator_log, emf):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(1)])
    lifecycle = Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock())
    assert lifecycle.start("acme", job.id)
    assert lifecycle.fail("acme", job.id, "plan", "UnreadableInput: not a JSON array") is JobStatus.FAILED
    assert lifecycle.announce("acme", job.id)

    [failed] = [line for line in operator_log() if line["level"] == "WARNING"]
    assert failed["message"] == "job failed"
    assert (failed["tenant"], failed["job_id"], failed["kind"]) == ("acme", job.id, "import_json")
    assert (failed["step"], failed["reason"]) == ("plan", "UnreadableInput: not a JSON array")
    [ended] = _lines(operator_log, "job ended")
    assert ended["status"] == "failed"
    [document] = [d for d in emf() if "JobsFailed" in d]
    assert (document["kind"], document["JobsFailed"]) == ("import_json", [1.0])


def test_a_chunk_attempt_that_fails_is_a_warning_naming_the_chunk(parts, operator_log):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(n) for n in range(3)])

    class Unreachable:
        def write_batch(self, *args, **kwargs):
            raise ConnectionError("the store went away")

    runner = runner_of(jobs, files, Unreachable(), chunk_rows=10)
    assert runner._lifecycle.start("acme", job.id)
    [chunk] = chunks_of(runner.plan("acme", job.id), files)
    with pytest.raises(ConnectionError):
        runner.run_chunk("acme", job.id, chunk)
    [warning] = [line for line in operator_log() if line["level"] == "WARNING"]
    assert warning["message"] == "chunk failed" and warning["job_id"] == job.id
    assert (warning["step"], warning["chunk"], warning["reason"]) == ("run_chunk", 0, "ConnectionError: the store went away")


def test_a_job_that_could_not_be_launched_is_counted_failed(emf):
    from ferry.jobs.service import JobService
    from ferry.testing import InMemoryFiles, InMemoryIdempotency, InMemoryJobs, InMemoryReferences, RecordingLauncher
    from tests.unit.test_job_service import rows_file, submission

    clock, launcher, events = StillClock(), RecordingLauncher(), RecordingEvents()
    service = JobService(InMemoryJobs(clock), InMemoryFiles(), launcher, events, InMemoryIdempotency(), InMemoryReferences(), InMemoryLeases(clock), clock)
    launcher.fail = True
    with pytest.raises(ServiceUnavailable):
        service.submit(submission(attachment=rows_file({"vendorId": "1"})))
    [document] = [d for d in emf() if "JobsFailed" in d]
    assert (document["kind"], document["JobsFailed"]) == ("import_json", [1.0])


def test_a_job_that_could_not_be_launched_nor_announced_is_told_and_counted_once_the_sweeper_announces_it(emf, operator_log):
    from datetime import timedelta

    from ferry.jobs.lifecycle import announce_ended
    from ferry.jobs.service import JobService
    from ferry.jobs.sweeper import Sweeper
    from ferry.testing import InMemoryFiles, InMemoryIdempotency, InMemoryJobs, InMemoryReferences, RecordingLauncher
    from tests.unit.test_job_service import rows_file, submission

    clock, launcher, events = StillClock(), RecordingLauncher(), RecordingEvents()
    jobs = InMemoryJobs(clock)
    service = JobService(jobs, InMemoryFiles(), launcher, events, InMemoryIdempotency(), InMemoryReferences(), InMemoryLeases(clock), clock)
    launcher.fail = events.fail = True
    with pytest.raises(ServiceUnavailable):
        service.submit(submission(attachment=rows_file({"vendorId": "1"})))
    warnings = {line["message"]: line for line in operator_log() if line["level"] == "WARNING"}
    assert warnings["job ended unannounced"]["reason"] == "ConnectionError: EventBridge is unreachable"
    clock.advance(minutes=5)
    sweeper = Sweeper(jobs, launcher, InMemoryLeases(clock), lambda tenant, job_id: announce_ended(jobs, events, tenant, job_id), clock)
    sweeper.sweep(timedelta(minutes=2))
    sweeper.sweep(timedelta(minutes=2))
    [document] = [d for d in emf() if "JobsFailed" in d]  # counted with its announced end, once
    assert document["JobsFailed"] == [1.0]


def test_a_reason_that_quotes_the_rows_is_logged_without_them(parts, operator_log):
    jobs, files, _ = parts
    job = submit(jobs, files, [customer(1)])
    lifecycle = Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock())
    assert lifecycle.start("acme", job.id)
    reason = "BulkWriteError: batch op errors occurred, full error: {'writeErrors': [{'op': {'name': 'Secret Customer Ltd'}}]}"
    lifecycle.fail("acme", job.id, "run_chunk", reason)
    [failed] = [line for line in operator_log() if line["level"] == "WARNING"]
    assert failed["reason"] == "BulkWriteError: batch op errors occurred"
    assert jobs.get("acme", job.id).output.endswith("Secret Customer Ltd'}}]}"), "the job's owner still reads the whole reason"


def test_a_report_that_cannot_be_made_never_fails_the_job(parts, operator_log):
    jobs, files, _ = parts
    job = submit(jobs, files, [customer(1)])
    lifecycle = Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock())
    assert lifecycle.start("acme", job.id)
    lifecycle.fail("acme", job.id, "plan", "UnreadableInput: not a JSON array")

    def retired_kind() -> str:
        raise UnknownKind("no kind import_xml")

    observability.job_ended(jobs.get("acme", job.id), retired_kind)  # must not raise
    [error] = [line for line in operator_log() if line["level"] == "ERROR"]
    assert (error["message"], error["report"], error["error"]) == ("a job report could not be made", "job_ended", "UnknownKind")
