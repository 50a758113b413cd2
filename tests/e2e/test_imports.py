"""Bulk imports through the local stack over HTTP, checked in the API and in the entity store."""
from __future__ import annotations

import concurrent.futures
import csv
import io
from pathlib import Path

import pytest

from ferry.store.port import Collection
from tests.e2e.conftest import E2E_CHUNK_ROWS
from tests.e2e.rows import customer

SEED_BODIES = Path(__file__).parent.parent / "fixtures" / "seed_004"


def test_import_completes_and_rows_are_stored(client, tenant_a, entities):
    job_id = client.import_rows("Customers", "Create", [customer(1), customer(2)])
    job = client.wait(job_id)
    assert job["status"] == "finished"
    assert job["progress"] == {"total": 2, "processed": 2, "succeeded": 2, "failed": 0, "percent": 100.0}
    status = client.get(f"/import/{job_id}").json()
    assert status["status"] == "completed" and status["completePercent"] == 100.0
    assert status["startedOnUtc"].endswith("Z") and status["completedOnUtc"].endswith("Z")
    stored = entities.get(Collection(tenant_a, "Customers"), ["C0000001", "C0000002"])
    assert stored["C0000001"]["name"] == "OOO Svetlyachok 1"
    assert stored["C0000002"]["location"]["geoCoordinate"]["latitude"] == 50.462504


def test_rejected_rows_are_reported_by_row_and_field(client, tenant_a, entities):
    rows = [customer(10), customer(11, location={"countryId": "UKR"}), customer(12, color="red")]
    job = client.wait(client.import_rows("Customers", "CreateOrUpdate", rows))
    assert job["status"] == "finished"
    assert (job["progress"]["succeeded"], job["progress"]["failed"]) == (1, 2)
    assert {(e["row"], e["field"].split(".")[0]) for e in job["errors"]} >= {(2, "location"), (3, "color")}
    lines = list(csv.DictReader(io.StringIO(client.get(f"/jobs/{job['id']}/errors").body.decode())))
    assert [(line["vendorId"], line["error_row"]) for line in lines] == [("C0000011", "2"), ("C0000012", "3")]
    assert lines[1]["error_field"] == "color" and lines[1]["color"] == "red"
    stored = entities.get(Collection(tenant_a, "Customers"), ["C0000010", "C0000011", "C0000012"])
    assert set(stored) == {"C0000010"}


def test_a_job_whose_rows_all_failed_is_failed(client):
    job = client.wait(client.import_rows("Customers", "Update", [customer(999_001), customer(999_002)]))
    assert job["status"] == "failed"
    assert [e["code"] for e in job["errors"]] == ["not_found", "not_found"]
    assert client.get(f"/import/{job['id']}").json()["status"] == "failed"


def test_create_refuses_existing_keys_and_duplicates_within_the_payload(client):
    client.wait(client.import_rows("Customers", "Create", [customer(20)]))
    job = client.wait(client.import_rows("Customers", "Create", [customer(20), customer(21), customer(21)]))
    assert (job["progress"]["succeeded"], job["progress"]["failed"]) == (1, 2)
    assert [(e["row"], e["code"]) for e in job["errors"]] == [(1, "duplicate_key"), (3, "duplicate_key")]


@pytest.mark.parametrize("action", ["Create", "CreateOrUpdate"])
def test_a_key_in_several_chunks_is_written_in_file_order_though_chunks_run_at_once(client, tenant_a, entities, action):
    base = {"Create": 230_000, "CreateOrUpdate": 240_000}[action]
    rows = [customer(base + n) for n in range(3 * E2E_CHUNK_ROWS)]
    key = base + 5
    # The key in the first, second and third chunks, its address only in the first row.
    rows[5] = customer(key, name="first")
    rows[E2E_CHUNK_ROWS + 5] = {"vendorId": rows[5]["vendorId"], "name": "second"}
    rows[2 * E2E_CHUNK_ROWS + 5] = {"vendorId": rows[5]["vendorId"], "name": "last"}
    job = client.wait(client.import_rows("Customers", action, rows), timeout=120)
    stored = entities.get(Collection(tenant_a, "Customers"), [rows[5]["vendorId"]])[rows[5]["vendorId"]]
    if action == "Create":
        assert stored["name"] == "first"
        assert [(e["row"], e["message"]) for e in job["errors"]] == [
            (E2E_CHUNK_ROWS + 6, "an earlier row of this import has the same key"),
            (2 * E2E_CHUNK_ROWS + 6, "an earlier row of this import has the same key"),
        ]
    else:
        assert job["status"] == "finished" and job["errors"] == []
        assert stored["name"] == "last" and stored["location"] == rows[5]["location"]  # as if written one after another


def test_a_chunk_whose_answer_is_lost_after_it_was_recorded_leaves_the_later_rows_of_its_keys_standing(client, local_stack, tenant_a, entities):
    # Two chunks of the same keys: chunk 1 waits for chunk 0, which writes, records its counts, then "times out".
    rows = [customer(250_000 + n % 100, name=f"row {n}") for n in range(2 * E2E_CHUNK_ROWS)]
    local_stack.inject_crash(step="run_chunk", times=1)  # chunk 1 raises ChunkNotReady until then: chunk 0 takes it
    job = client.wait(client.import_rows("Customers", "CreateOrUpdate", rows), timeout=120)
    assert job["status"] == "finished" and job["progress"]["succeeded"] == 2 * E2E_CHUNK_ROWS, job
    stored = entities.get(Collection(tenant_a, "Customers"), [r["vendorId"] for r in rows[:100]])
    # The retried chunk 0 must not have written its rows again over chunk 1's, the later ones.
    assert {doc["name"] for doc in stored.values()} == {f"row {n}" for n in range(2 * E2E_CHUNK_ROWS - 100, 2 * E2E_CHUNK_ROWS)}


def test_ten_thousand_rows_twice_change_nothing_the_second_time(client, tenant_a, entities):
    rows = [customer(100_000 + n) for n in range(10_000)]
    first = client.wait(client.import_rows("Customers", "CreateOrUpdate", rows), timeout=120)
    assert first["status"] == "finished" and first["progress"]["succeeded"] == 10_000
    coll = Collection(tenant_a, "Customers")
    keys = [r["vendorId"] for r in rows]
    before = entities.get(coll, keys)
    assert len(before) == 10_000
    second = client.wait(client.import_rows("Customers", "CreateOrUpdate", rows), timeout=120)
    assert second["status"] == "finished" and second["progress"]["succeeded"] == 10_000
    after = entities.get(coll, keys)
    strip = lambda docs: {k: {f: v for f, v in d.items() if f != "_updated_at"} for k, d in docs.items()}  # noqa: E731
    assert strip(after) == strip(before)


def test_a_chunk_that_crashes_after_writing_is_retried_without_duplicates(client, local_stack, tenant_a, entities):
    rows = [customer(200_000 + n) for n in range(50)]
    local_stack.inject_crash(step="run_chunk", times=1)
    job = client.wait(client.import_rows("Customers", "Create", rows), timeout=120)
    # The first attempt wrote every row and then "died"; the retry must not call them duplicates.
    assert job["status"] == "finished", job
    assert (job["progress"]["succeeded"], job["progress"]["failed"]) == (50, 0)
    assert len(entities.get(Collection(tenant_a, "Customers"), [r["vendorId"] for r in rows])) == 50


def test_a_chunk_whose_worker_is_killed_after_writing_is_retried_and_counted(client, local_stack, tenant_a, entities):
    rows = [customer(210_000 + n) for n in range(50)]
    local_stack.inject_crash(step="run_chunk", times=1, error_type="Runtime.ExitError")  # the process died (OOM, kill -9)
    job = client.wait(client.import_rows("Customers", "Create", rows), timeout=120)
    # The rows were written before the process died; Step Functions retries the chunk as after a timeout.
    assert job["status"] == "finished", job
    assert (job["progress"]["succeeded"], job["progress"]["failed"]) == (50, 0)
    assert len(entities.get(Collection(tenant_a, "Customers"), [r["vendorId"] for r in rows])) == 50


def test_seed_examples_with_null_are_refused_naming_the_position(client):
    bodies = sorted(p for p in SEED_BODIES.iterdir() if b"NULL" in p.read_bytes())
    assert bodies, "the seed's NULL examples are missing from tests/fixtures/seed_004"
    for path in bodies:
        raw = path.read_bytes()
        answer = client.post("/import", raw=raw)
        assert answer.status == 400, path.name
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        position = raw.decode("utf-8").index("NULL")  # the decoder counts characters, not bytes
        assert f"(character {position})" in problem["detail"], problem


def test_unsupported_pairs_are_refused_naming_the_allowed_ones(client, tenant_a, entities):
    before = client.get("/jobs?limit=1000").json()["page"]["count"]
    answer = client.post("/import", {"dataType": "Customers", "actionType": "Replace", "data": [customer(1)]})
    assert answer.status == 422
    problem = answer.json()
    assert problem["errors"][0]["pointer"] == "/actionType"
    assert "CreateOrUpdate" in problem["detail"]
    unknown = client.post("/import", {"dataType": "Orders", "actionType": "Create", "data": []})
    assert unknown.status == 422 and unknown.json()["errors"][0]["pointer"] == "/dataType"
    missing = client.post("/import", {"dataType": "Customers", "data": []})
    assert missing.status == 422 and missing.json()["errors"][0]["pointer"] == "/actionType"
    assert client.get("/jobs?limit=1000").json()["page"]["count"] == before


def test_same_idempotency_key_twenty_times_at_once_makes_one_job(client):
    body = {"dataType": "Customers", "actionType": "CreateOrUpdate", "data": [customer(300_000)]}

    def post(_: int):
        return client.post("/import", body, headers={"Idempotency-Key": "nightly-2026-11-22"})

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))
    ids = {a.json()["id"] for a in answers if a.status == 202}
    assert len(ids) == 1, [(a.status, a.body) for a in answers]
    assert all(a.status in (202, 409) for a in answers)
    client.wait(ids.pop())
    again = client.post("/import", body, headers={"Idempotency-Key": "nightly-2026-11-22"})
    assert again.status == 202
    # The same rows with their members in another order (JSON objects have none): the same import.
    reordered = {**body, "data": [dict(reversed(row.items())) for row in body["data"]]}
    assert client.post("/import", reordered, headers={"Idempotency-Key": "nightly-2026-11-22"}).json() == again.json()
    changed = client.post("/import", {**body, "actionType": "Create"}, headers={"Idempotency-Key": "nightly-2026-11-22"})
    assert changed.status == 422


def test_cancelling_an_import_stops_it(client, local_stack):
    rows = [customer(400_000 + n) for n in range(local_stack.chunk_rows * 6)]
    job_id = client.import_rows("Customers", "CreateOrUpdate", rows)
    answer = client.delete(f"/jobs/{job_id}")
    assert answer.status == 202
    assert answer.json() == {"status": True, "message": "Job has been marked for cancelling"}
    job = client.wait(job_id, timeout=120)
    assert job["status"] == "cancelled"
    assert job["progress"]["processed"] < len(rows)
    assert client.delete(f"/jobs/{job_id}").status == 409
    assert client.get(f"/import/{job_id}").json()["status"] == "cancelled"


@pytest.mark.parametrize("path", ["/jobs/{id}", "/import/{id}", "/jobs/{id}/errors"])
def test_another_tenants_job_is_not_found(client, other_client, path):
    job_id = client.import_rows("Customers", "CreateOrUpdate", [customer(500_000)])
    client.wait(job_id)
    assert other_client.get(path.format(id=job_id)).status == 404
    assert other_client.delete(f"/jobs/{job_id}").status == 404
    assert job_id not in {j["id"] for j in other_client.get("/jobs?limit=1000").json()["items"]}


def test_tenants_keep_separate_data(client, other_client, tenant_a, tenant_b, entities):
    client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(600_000, name="A's")]))
    other_client.wait(other_client.import_rows("Customers", "CreateOrUpdate", [customer(600_000, name="B's")]))
    assert entities.get(Collection(tenant_a, "Customers"), ["C0600000"])["C0600000"]["name"] == "A's"
    assert entities.get(Collection(tenant_b, "Customers"), ["C0600000"])["C0600000"]["name"] == "B's"


def test_requests_without_a_valid_key_are_refused(local_stack):
    from tests.e2e.client import FerryClient

    for key in (None, "not-a-key"):
        answer = FerryClient(local_stack.url, key).get("/jobs")
        assert answer.status == 401
        assert answer.json()["status"] == 401
        assert "not-a-key" not in answer.body.decode()


def test_a_step_that_keeps_failing_ends_the_job_failed_with_its_reason(client, local_stack):
    local_stack.inject_crash(step="plan", times=4)  # the first try and its three retries
    job = client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(900_000)]), timeout=60)
    assert job["status"] == "failed"
    assert job["output"].startswith("The plan step failed: Sandbox.Timedout: ")
    assert "Traceback" not in job["output"] and job["terminated_at"]
