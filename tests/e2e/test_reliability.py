"""Jobs tell the truth under bursts, cancels racing the work, failing chunks and hostile rows."""
from __future__ import annotations

import concurrent.futures
import re
import secrets
import sqlite3
import time

import pytest

from ferry.core.clock import SystemClock
from ferry.core.ids import new_ulid
from ferry.jobs.model import Job, JobStatus
from ferry.aws.jobs_table import JobsTable
from ferry.store.port import Collection
from tests.e2e.client import FerryClient
from tests.e2e.conftest import E2E_CHUNK_ROWS
from tests.e2e.rows import customer

pytestmark = pytest.mark.e2e


def new_tenant(local_stack) -> tuple[str, FerryClient]:
    tenant = f"tenant-{secrets.token_hex(4)}"
    key = secrets.token_hex(16)
    local_stack.add_tenant(tenant, key)
    return tenant, FerryClient(local_stack.url, key)


def rows_written_by(local_stack, tenant: str, job_id: str, data_type: str = "Customers") -> int:
    with sqlite3.connect(local_stack.sqlite_path, timeout=30) as db:
        return db.execute(f'SELECT COUNT(*) FROM "{data_type}" WHERE tenant = ? AND writer = ?', (tenant, job_id)).fetchone()[0]


def test_fifty_concurrent_imports_from_two_tenants_each_land_in_their_own_tenant(local_stack, entities):
    tenants = [new_tenant(local_stack), new_tenant(local_stack)]
    burst = [(t, n) for n in range(25) for t in range(2)]  # 50 imports, the tenants interleaved

    def submit(item: tuple[int, int]):
        t, n = item
        tenant, client = tenants[t]
        rows = [customer(n * 10 + i, vendorId=f"{tenant}-{n}-{i}", name=f"of {tenant}") for i in range(10)]
        answer = client.post(
            "/import", {"dataType": "Customers", "actionType": "Create", "data": rows}, headers={"Idempotency-Key": f"burst-{n}"}
        )
        return t, n, answer

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(submit, burst))
    assert [a.status for _, _, a in answers] == [202] * 50, [(a.status, a.body[:200]) for _, _, a in answers if a.status != 202]
    assert len({a.json()["id"] for _, _, a in answers}) == 50
    for t, n, answer in answers:
        tenant, client = tenants[t]
        job = client.wait(answer.json()["id"], timeout=180)
        assert job["status"] == "finished", job
        assert job["progress"] == {"total": 10, "processed": 10, "succeeded": 10, "failed": 0, "percent": 100.0}
    for tenant, _ in tenants:
        coll = Collection(tenant, "Customers")
        assert entities.count(coll) == 250
        assert entities.count(coll, {"name": f"of {tenant}"}) == 250  # not one row of the other tenant


def test_a_cancel_mid_run_reports_exactly_the_rows_written(local_stack):
    tenant, client = new_tenant(local_stack)
    rows = [customer(n) for n in range(10 * E2E_CHUNK_ROWS)]
    local_stack.slow_down("run_chunk", times=10, seconds=0.5)
    job_id = client.import_rows("Customers", "Create", rows)
    deadline = time.monotonic() + 60
    while client.get(f"/jobs/{job_id}").json()["progress"]["processed"] == 0:
        assert time.monotonic() < deadline, "no chunk was recorded within 60 s"
        time.sleep(0.05)
    assert client.delete(f"/jobs/{job_id}").status == 202
    job = client.wait(job_id, timeout=120)
    assert job["status"] == "cancelled"
    written = rows_written_by(local_stack, tenant, job_id)
    assert 0 < written < len(rows)
    assert job["progress"]["processed"] == job["progress"]["succeeded"] == written
    assert job["output"].startswith(f"Cancelled after {written} of {len(rows)} rows")
    assert client.get(f"/import/{job_id}").json()["status"] == "cancelled"


def test_a_chunk_that_fails_through_its_retries_fails_the_job_naming_the_chunk(local_stack):
    tenant, client = new_tenant(local_stack)
    rows = [customer(n) for n in range(3 * E2E_CHUNK_ROWS)]
    local_stack.inject_failure("run_chunk", times=4, error_type="StoreUnavailable", chunk=1)  # the try and its 3 retries
    job = client.wait(client.import_rows("Customers", "Create", rows), timeout=120)
    assert job["status"] == "failed", job
    first, last = E2E_CHUNK_ROWS + 1, 2 * E2E_CHUNK_ROWS
    assert f"chunk 1 (rows {first}-{last})" in job["output"], job["output"]
    assert job["progress"]["succeeded"] == rows_written_by(local_stack, tenant, job["id"]) == 2 * E2E_CHUNK_ROWS
    assert client.get(f"/import/{job['id']}").json()["status"] == "failed"


def test_a_chunk_that_meets_aws_throttling_is_retried_and_the_job_lands_every_row(local_stack):
    tenant, client = new_tenant(local_stack)
    rows = [customer(n) for n in range(2 * E2E_CHUNK_ROWS)]
    local_stack.inject_failure("run_chunk", times=2, error_type="AwsBusy", chunk=1)  # the try and one retry
    job = client.wait(client.import_rows("Customers", "Create", rows), timeout=120)
    assert job["status"] == "finished", job
    assert job["progress"]["succeeded"] == rows_written_by(local_stack, tenant, job["id"]) == len(rows)


def test_rows_with_huge_unknown_field_names_keep_their_full_error_report(client):
    rows = [customer(700_000 + n, **{f"f{n}_" + "x" * 5000: n}) for n in range(100)]
    job = client.wait(client.import_rows("Customers", "Create", rows))
    assert job["status"] == "failed"  # every row was refused
    assert job["error_count"] == 100 and len(job["errors"]) == 100
    assert all(len(e["field"]) <= 200 for e in job["errors"])
    report = client.get(f"/jobs/{job['id']}/errors").body.decode()
    assert sum(1 for n in range(100) if f"f{n}_" + "x" * 5000 in report) == 100


def test_a_list_cursor_followed_with_another_filter_still_answers(client):
    client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(710_000)]))
    client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(710_001)]))
    first = client.get("/jobs?limit=1").json()
    next_link = first["link"]["next"]
    for extra in ("&status=finished", "&status=running", "&type=import_json", "&created_after=2000-01-01T00:00:00Z"):
        answer = client.get(next_link + extra)
        assert answer.status == 200, (extra, answer.body)
        assert first["items"][0]["id"] not in [j["id"] for j in answer.json()["items"]]


def test_the_sweeper_ends_jobs_whose_execution_is_gone(local_stack):
    tenant, client = new_tenant(local_stack)
    jobs = JobsTable(local_stack.session.resource("dynamodb").Table(local_stack.stack.physical("JobsTable")), SystemClock(), 90)
    # A job stored by an API call that died before it started the execution.
    orphan = Job(new_ulid(), tenant, "import_json", JobStatus.PENDING, {"dataType": "Customers", "actionType": "Create"}, *(2 * [SystemClock().now()]))
    jobs.create(orphan)
    # A job whose execution an operator stopped while it ran.
    local_stack.slow_down("start", times=1, seconds=3)
    stopped_id = client.import_rows("Customers", "Create", [customer(720_000)])
    sfn = local_stack.session.client("stepfunctions")
    execution_arn = local_stack.stack.arn("ImportStateMachine").replace(":stateMachine:", ":execution:") + f":{stopped_id}"
    sfn.stop_execution(executionArn=execution_arn)
    deadline = time.monotonic() + 30  # moto marks it ABORTED once its interpreter notices
    while sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    swept = local_stack.fire_schedule("SweeperFunction.Sweep", {"older_than_seconds": 0})

    assert {orphan.id, stopped_id} <= set(swept["swept"])
    never = client.get(f"/jobs/{orphan.id}").json()
    assert never["status"] == "failed" and "was never started" in never["output"]
    aborted = client.wait(stopped_id)
    # Stopped in the middle of a task, moto's interpreter now and then ends the execution FAILED (a States.Runtime
    # error of its own) rather than ABORTED: either way it no longer runs, which is what the sweeper acts on.
    assert aborted["status"] == "failed" and re.search(r"ended (ABORTED|FAILED) while the job was still", aborted["output"]), aborted["output"]
    assert local_stack.fire_schedule("SweeperFunction.Sweep", {"older_than_seconds": 0})["swept"] == []


def test_unknown_routes_and_methods_are_problems_with_a_request_id(client):
    for method, path in (("GET", "/nothing/here"), ("PUT", "/import"), ("DELETE", "/job-types")):
        answer = client.request(method, path)
        assert answer.status == 404, (method, path, answer.body)
        assert answer.headers["content-type"] == "application/problem+json" and answer.headers["x-request-id"]
    anonymous = FerryClient(client.base_url, None)
    assert anonymous.get("/nothing/here").status == 401

