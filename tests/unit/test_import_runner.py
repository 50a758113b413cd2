"""The import steps on in-memory fakes and an SQLite entity store, without the state machine or moto."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from ferry.core.ids import new_ulid
from ferry.imports.runner import ChunkNotReady, ChunkRef, ImportRunner
from ferry.imports.sources.url import FetchPolicy
from ferry.jobs.files import input_key
from ferry.jobs.lifecycle import Lifecycle
from ferry.jobs.model import Job, JobStatus
from ferry.store.port import Action, Collection, WriteRow
from ferry.store.sqlite import SqliteEntityStore
from ferry.testing import InMemoryLeases, RecordingEvents, InMemoryFiles, InMemoryJobs, StillClock
from tests.e2e.rows import customer


class CrashAfterHalf:
    """An entity store that dies halfway through its first batch: half the rows are written, none reported."""

    def __init__(self, store: SqliteEntityStore) -> None:
        self.store = store
        self.crashed = False

    def write_batch(self, coll, action, rows, *, writer, now):
        if not self.crashed:
            self.crashed = True
            self.store.write_batch(coll, action, rows[: len(rows) // 2], writer=writer, now=now)
            raise ConnectionError("the store went away mid-batch")
        return self.store.write_batch(coll, action, rows, writer=writer, now=now)


class AlwaysBreaksOff(CrashAfterHalf):
    """A store that writes half of every batch of chunk rows from `first_row` on, then goes away: every retry too."""

    def __init__(self, store: SqliteEntityStore, first_row: int) -> None:
        super().__init__(store)
        self.first_row = first_row

    def write_batch(self, coll, action, rows, *, writer, now):
        self.crashed = not (rows and rows[0].row == self.first_row)
        return super().write_batch(coll, action, rows, writer=writer, now=now)

    def count_written(self, coll, writer, rows):
        return self.store.count_written(coll, writer, rows)


@pytest.fixture
def parts(tmp_path):
    clock = StillClock()
    return InMemoryJobs(clock), InMemoryFiles(), SqliteEntityStore(str(tmp_path / "entities.sqlite3"))


def runner_of(jobs, files, store, chunk_rows: int) -> ImportRunner:
    clock = StillClock()
    return ImportRunner(jobs, files, store, Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), clock), clock, chunk_rows, FetchPolicy(max_bytes=1 << 20, timeout_s=5))


def submit(jobs, files, rows, action="Create", data_type="Customers", kind="import_json", content=None) -> Job:
    now = datetime.now(UTC)
    job_id = new_ulid()
    job = Job(
        id=job_id, tenant="acme", type=kind, status=JobStatus.PENDING,
        args={"dataType": data_type, "actionType": action}, created_at=now, updated_at=now,
        input_key=input_key("acme", job_id),
    )
    files.put(job.input_key, json.dumps(rows).encode() if content is None else content)
    jobs.create(job)
    return job


def chunks_of(manifest_key: str, files: InMemoryFiles) -> list[ChunkRef]:
    """What the Map state does with the manifest: one item per chunk, handed whole to the step."""
    return [ChunkRef(**entry) for entry in json.loads(files.get(manifest_key))]


def run_all(runner: ImportRunner, files: InMemoryFiles, job: Job) -> JobStatus:
    assert runner._lifecycle.start("acme", job.id)
    for chunk in chunks_of(runner.plan("acme", job.id), files):
        runner.run_chunk("acme", job.id, chunk)
    return runner.finish("acme", job.id)


def test_chunks_split_count_and_finish(parts):
    jobs, files, store = parts
    rows = [customer(n) for n in range(25)] + [customer(99, name=12)]
    job = submit(jobs, files, rows)
    runner = runner_of(jobs, files, store, chunk_rows=10)
    assert run_all(runner, files, job) is JobStatus.FINISHED
    done = jobs.get("acme", job.id)
    assert done.chunk_count == 3 and done.total == 26
    manifest = json.loads(files.get(f"jobs/acme/{job.id}/manifest.json"))
    assert [(c["number"], c["first_row"], c["rows"]) for c in manifest] == [(0, 1, 10), (1, 11, 10), (2, 21, 6)]
    assert (done.progress.succeeded, done.progress.failed) == (25, 1)
    assert [(e.row, e.field) for e in done.errors] == [(26, "name")]
    assert store.count(Collection("acme", "Customers")) == 25
    header, line = csv.DictReader(io.StringIO(files.get(done.errors_key).decode())).fieldnames, None
    [line] = list(csv.DictReader(io.StringIO(files.get(done.errors_key).decode())))
    assert header[:2] == ["vendorId", "name"] and header[-4:] == ["error_row", "error_field", "error_code", "error_message"]
    assert (line["vendorId"], line["name"], line["error_row"], line["error_field"]) == ("C0000099", "12", "26", "name")
    assert line["tradeNetworkId"] == ""  # null: an empty cell, as a CSV writes it


def test_rows_the_store_refuses_in_a_chunk_of_valid_rows_reach_the_errors_file_as_sent(parts):
    jobs, files, store = parts
    store.write_batch(Collection("acme", "Customers"), Action.CREATE, [WriteRow(0, "C0000003", {"vendorId": "C0000003"})], writer="earlier", now="2026-11-22T00:00:00Z")
    job = submit(jobs, files, [customer(n) for n in range(5)], action="Create")
    assert run_all(runner_of(jobs, files, store, chunk_rows=10), files, job) is JobStatus.FINISHED
    done = jobs.get("acme", job.id)
    assert (done.progress.succeeded, done.progress.failed) == (4, 1)
    assert [(e.row, e.code) for e in done.errors] == [(4, "duplicate_key")]
    [line] = list(csv.DictReader(io.StringIO(files.get(done.errors_key).decode())))
    assert (line["vendorId"], line["name"], line["error_code"]) == ("C0000003", customer(3)["name"], "duplicate_key")


def test_a_json_chunk_planned_before_chunks_became_bare_arrays_still_runs(parts):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(n) for n in range(3)], action="Create")
    runner = runner_of(jobs, files, store, chunk_rows=10)
    assert runner._lifecycle.start("acme", job.id)
    [chunk] = chunks_of(runner.plan("acme", job.id), files)
    files.put(chunk.key, json.dumps({"rows": [customer(0), customer(1, name=12), customer(2)]}).encode())  # the old layout
    runner.run_chunk("acme", job.id, chunk)
    assert runner.finish("acme", job.id) is JobStatus.FINISHED
    done = jobs.get("acme", job.id)
    assert (done.progress.succeeded, done.progress.failed) == (2, 1)
    assert [(e.row, e.field) for e in done.errors] == [(2, "name")]
    assert store.count(Collection("acme", "Customers")) == 2


def test_a_chunk_that_crashed_mid_batch_is_retried_without_duplicates_or_losses(parts):
    jobs, files, store = parts
    rows = [customer(n) for n in range(20)]
    job = submit(jobs, files, rows, action="Create")
    flaky = CrashAfterHalf(store)
    runner = runner_of(jobs, files, flaky, chunk_rows=20)
    assert Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    [chunk] = chunks_of(runner.plan("acme", job.id), files)
    with pytest.raises(ConnectionError):
        runner.run_chunk("acme", job.id, chunk)
    assert store.count(Collection("acme", "Customers")) == 10
    runner.run_chunk("acme", job.id, chunk)  # what the state machine's Retry does
    assert runner.finish("acme", job.id) is JobStatus.FINISHED
    done = jobs.get("acme", job.id)
    assert (done.progress.processed, done.progress.succeeded, done.progress.failed) == (20, 20, 0)
    assert done.errors == []
    assert store.count(Collection("acme", "Customers")) == 20


def test_cancelled_before_start_never_runs(parts):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(1)])
    jobs.transition("acme", job.id, JobStatus.CANCELLING)
    runner = runner_of(jobs, files, store, chunk_rows=10)
    assert Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id) is False
    assert jobs.get("acme", job.id).status is JobStatus.CANCELLED
    assert store.count(Collection("acme", "Customers")) == 0


def test_cancelling_between_chunks_skips_the_rest(parts):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(n) for n in range(30)], action="CreateOrUpdate")
    runner = runner_of(jobs, files, store, chunk_rows=10)
    Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    chunks = chunks_of(runner.plan("acme", job.id), files)
    assert runner.run_chunk("acme", job.id, chunks[0])
    jobs.transition("acme", job.id, JobStatus.CANCELLING)
    assert not runner.run_chunk("acme", job.id, chunks[1])
    assert runner.finish("acme", job.id) is JobStatus.CANCELLED
    done = jobs.get("acme", job.id)
    assert done.progress.processed == 10 and "after 10 of 30 rows" in done.output
    assert store.count(Collection("acme", "Customers")) == 10


def test_a_failed_step_ends_the_job_failed_with_its_reason(parts):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(1)])
    runner = runner_of(jobs, files, store, chunk_rows=10)
    Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    assert runner.fail("acme", job.id, "plan", "ValueError: the input is not a JSON array") is JobStatus.FAILED
    failed = jobs.get("acme", job.id)
    assert failed.output == "The plan step failed: ValueError: the input is not a JSON array" and failed.terminated_at
    assert runner.fail("acme", job.id, "finish", "again") is JobStatus.FAILED
    assert jobs.get("acme", job.id).output == "The plan step failed: ValueError: the input is not a JSON array"


class CancelledMidBatch:
    """An entity store during whose first batch the user cancels the job: the batch is written all the same."""

    def __init__(self, store: SqliteEntityStore, jobs: InMemoryJobs) -> None:
        self.store, self.jobs, self.cancelled = store, jobs, False

    def write_batch(self, coll, action, rows, *, writer, now):
        if not self.cancelled:
            self.cancelled = True
            self.jobs.transition(coll.tenant, writer, JobStatus.CANCELLING)
        return self.store.write_batch(coll, action, rows, writer=writer, now=now)


def test_a_chunk_running_when_the_job_is_cancelled_is_counted(parts):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(n) for n in range(30)], action="CreateOrUpdate")
    runner = runner_of(jobs, files, CancelledMidBatch(store, jobs), chunk_rows=10)
    Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    chunks = chunks_of(runner.plan("acme", job.id), files)
    assert runner.run_chunk("acme", job.id, chunks[0])  # cancelled while it wrote: its 10 rows are stored
    assert not runner.run_chunk("acme", job.id, chunks[1])
    assert runner.finish("acme", job.id) is JobStatus.CANCELLED
    done = jobs.get("acme", job.id)
    assert (done.progress.processed, done.progress.succeeded) == (10, 10)
    assert "after 10 of 30 rows" in done.output
    assert store.count(Collection("acme", "Customers")) == 10


def test_finish_with_a_chunk_never_recorded_ends_failed_naming_it(parts):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(n) for n in range(30)], action="CreateOrUpdate")
    runner = runner_of(jobs, files, store, chunk_rows=10)
    Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    chunks = chunks_of(runner.plan("acme", job.id), files)
    runner.run_chunk("acme", job.id, chunks[0])
    runner.run_chunk("acme", job.id, chunks[2])
    jobs.record_chunk_failure("acme", job.id, 1, "StoreUnavailable: SQLite is busy")
    assert runner.finish("acme", job.id) is JobStatus.FAILED
    done = jobs.get("acme", job.id)
    assert "1 of 3 chunks failed: chunk 1 (rows 11-20: StoreUnavailable: SQLite is busy)" in done.output
    assert "20 of 30 Customers rows imported" in done.output
    assert (done.progress.processed, done.progress.succeeded) == (20, 20)


def test_fail_after_the_map_failed_names_the_chunk(parts):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(n) for n in range(20)])
    runner = runner_of(jobs, files, store, chunk_rows=10)
    Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    chunks = chunks_of(runner.plan("acme", job.id), files)
    runner.run_chunk("acme", job.id, chunks[0])
    runner.fail("acme", job.id, "chunks", "States.ExceedToleratedFailureThreshold: The specified tolerated failure threshold was exceeded")
    done = jobs.get("acme", job.id)
    assert done.status is JobStatus.FAILED
    assert done.output.startswith("The chunks step failed: 1 of 2 chunks failed: chunk 1 (rows 11-20).")


@pytest.mark.parametrize("ending", ["fail", "finish"])
def test_rows_a_chunk_wrote_before_failing_through_its_retries_are_counted(parts, ending):
    jobs, files, store = parts
    job = submit(jobs, files, [customer(n) for n in range(20)], action="Create")
    runner = runner_of(jobs, files, AlwaysBreaksOff(store, first_row=10), chunk_rows=10)
    Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    first, second = chunks_of(runner.plan("acme", job.id), files)
    runner.run_chunk("acme", job.id, first)
    for _ in range(4):  # the try and its 3 retries, each writing half before the store goes away
        with pytest.raises(ConnectionError):
            runner.run_chunk("acme", job.id, second)
    if ending == "fail":
        runner.fail("acme", job.id, "chunks", "States.ExceedToleratedFailureThreshold: a chunk failed")
    else:
        assert runner.finish("acme", job.id) is JobStatus.FAILED
    done = jobs.get("acme", job.id)
    assert done.status is JobStatus.FAILED
    assert done.progress.succeeded == store.count(Collection("acme", "Customers")) == 15  # never less than what is stored
    assert "chunk 1 (rows 11-20: ConnectionError: the store went away mid-batch; 5 of them written)" in done.output, done.output
    assert "15 of 20 Customers rows imported" in done.output


def test_rows_of_one_key_in_several_chunks_are_written_in_file_order_whatever_order_the_chunks_run(parts):
    jobs, files, store = parts
    rows = [customer(n) for n in range(30)]
    rows[5], rows[25] = customer(99, name="first"), customer(99, name="last")  # chunks 0 and 2 share a key
    job = submit(jobs, files, rows, action="CreateOrUpdate")
    runner = runner_of(jobs, files, store, chunk_rows=10)
    Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    first, second, third = chunks_of(runner.plan("acme", job.id), files)
    assert [list(c.after) for c in (first, second, third)] == [[], [], [0]]
    with pytest.raises(ChunkNotReady, match="chunk 2 waits for chunk 0"):
        runner.run_chunk("acme", job.id, third)  # the Map started it first: it waits, writing nothing
    assert store.count(Collection("acme", "Customers")) == 0
    for chunk in (second, first, third):
        runner.run_chunk("acme", job.id, chunk)
    assert runner.finish("acme", job.id) is JobStatus.FINISHED
    assert store.get(Collection("acme", "Customers"), ["C0000099"])["C0000099"]["name"] == "last"


@pytest.mark.parametrize("action", ["CreateOrUpdate", "Update"])
def test_a_chunk_run_again_after_its_counts_were_recorded_leaves_the_later_chunks_rows_of_its_keys_standing(parts, action):
    jobs, files, store = parts
    if action == "Update":
        existing = [WriteRow(i, f"C{n:07d}", customer(n)) for i, n in enumerate([*range(20), 99])]
        store.write_batch(Collection("acme", "Customers"), Action.CREATE, existing, writer="earlier", now="2026-11-22T00:00:00Z")
    rows = [customer(n) for n in range(20)]
    rows[5], rows[15] = customer(99, name="first"), customer(99, name="last")  # chunks 0 and 1 share a key
    job = submit(jobs, files, rows, action=action)
    runner = runner_of(jobs, files, store, chunk_rows=10)
    Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    first, second = chunks_of(runner.plan("acme", job.id), files)
    runner.run_chunk("acme", job.id, first)
    runner.run_chunk("acme", job.id, second)  # chunk 0 was recorded: chunk 1 runs
    # Chunk 0's answer was lost after it recorded its counts (a Lambda timed out or killed then): the Map retries it.
    assert runner.run_chunk("acme", job.id, first) is True
    assert runner.finish("acme", job.id) is JobStatus.FINISHED
    assert store.get(Collection("acme", "Customers"), ["C0000099"])["C0000099"]["name"] == "last"
    assert jobs.get("acme", job.id).progress.succeeded == 20


def test_a_chunk_that_only_waited_for_a_failed_one_says_so(parts):
    jobs, files, store = parts
    rows = [customer(n) for n in range(20)]
    rows[15] = customer(5, name="again")  # chunk 1 holds a key of chunk 0
    job = submit(jobs, files, rows, action="CreateOrUpdate")
    runner = runner_of(jobs, files, store, chunk_rows=10)
    Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(StillClock()), StillClock()).start("acme", job.id)
    chunks_of(runner.plan("acme", job.id), files)
    jobs.record_chunk_failure("acme", job.id, 0, "StoreUnavailable: SQLite is busy")
    runner.fail("acme", job.id, "chunks", "States.ExceedToleratedFailureThreshold: a chunk failed")
    output = jobs.get("acme", job.id).output
    assert "chunk 0 (rows 1-10: StoreUnavailable: SQLite is busy)" in output
    assert "chunk 1 (rows 11-20: it waited for chunk 0, which holds earlier rows of the same keys)" in output, output


def test_the_job_keeps_a_bounded_error_report_whatever_the_rows(parts):
    jobs, files, store = parts
    rows = [customer(n, **{f"{n}{'x' * 5000}": 1}) for n in range(100)]
    job = submit(jobs, files, rows)
    runner = runner_of(jobs, files, store, chunk_rows=50)
    assert run_all(runner, files, job) is JobStatus.FAILED  # every row was refused
    done = jobs.get("acme", job.id)
    assert done.error_count == 100 and len(done.errors) == 100
    assert all(len(e.field) <= 200 and len(e.message) <= 500 for e in done.errors)
    report = files.get(done.errors_key).decode()
    assert report.count("x" * 5000) >= 100  # the full names are in the report




def test_the_errors_file_of_json_rows_imports_again_as_a_csv_once_fixed(parts):
    # Fixed and imported again, the errors file must store the rows as they were sent: the nested
    # location whole (dotted columns), the list of price tiers as its two items (not one JSON text).
    jobs, files, store = parts
    runner = runner_of(jobs, files, store, chunk_rows=10)
    sent = {
        "Customers": customer(1, name="", tradeNetworkId="TN1"),
        "Relationships": {"vendorId": "R1", "name": "", "priceTiers": ["T1", "T2"], "active": True, "limit": 5.5},
    }
    for data_type, row in sent.items():
        rejected = submit(jobs, files, [row], data_type=data_type)
        assert run_all(runner, files, rejected) is JobStatus.FAILED
        errors = files.get(jobs.get("acme", rejected.id).errors_key).decode()
        fixed = errors.replace(f"{row['vendorId']},,", f"{row['vendorId']},Fixed,")
        again = submit(jobs, files, [], data_type=data_type, kind="import_csv", content=fixed.encode())
        assert run_all(runner, files, again) is JobStatus.FINISHED
        stored = store.get(Collection("acme", data_type), [row["vendorId"]])[row["vendorId"]]
        assert {k: v for k, v in stored.items() if not k.startswith("_")} == {**row, "name": "Fixed"}


def test_a_cancel_while_the_url_attachment_downloads_stops_the_download(parts, monkeypatch):
    import http.server
    import threading
    import time

    from ferry.imports import runner as runner_module
    from ferry.jobs.model import Attachment

    stop = threading.Event()

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # a row's worth of bytes now and then, for far longer than the test waits
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"[")
            while not stop.wait(0.05):
                self.wfile.write(b" ")
                self.wfile.flush()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(runner_module, "_CANCEL_CHECK_S", 0.2)
    jobs, files, store = parts
    clock = StillClock()
    runner = ImportRunner(jobs, files, store, Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(clock), clock), clock, 100,
                          FetchPolicy(max_bytes=1 << 20, timeout_s=60, allowed_hosts=frozenset({"127.0.0.1"})))
    now = datetime.now(UTC)
    url = f"http://127.0.0.1:{server.server_address[1]}/rows.json"
    job = Job(id=new_ulid(), tenant="acme", type="import_json", status=JobStatus.PENDING, args={"dataType": "Customers", "actionType": "Create"},
              created_at=now, updated_at=now, attachment=Attachment("rows.json", "application/json", url=url))
    jobs.create(job)
    assert runner._lifecycle.start("acme", job.id)
    threading.Timer(0.5, lambda: jobs.transition("acme", job.id, JobStatus.CANCELLING)).start()
    started = time.monotonic()
    try:
        with pytest.raises(runner_module.DownloadStopped):
            runner.plan("acme", job.id)
    finally:
        stop.set()
        server.shutdown()
    assert time.monotonic() - started < 5  # not the fetch's 60 s deadline
    assert runner.fail("acme", job.id, "plan", "DownloadStopped") is JobStatus.CANCELLED
