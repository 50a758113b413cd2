"""The canonical /jobs resource over HTTP."""
from __future__ import annotations

import base64
import json

from tests.e2e.rows import customer


def _attachment(rows, name="customers.json") -> dict:
    return {"name": name, "mime_type": "application/json", "file": base64.b64encode(json.dumps(rows).encode()).decode()}


def test_create_a_job_with_an_attachment(client):
    content = [customer(700_000), customer(700_001)]
    body = {"type": "import_json", "args": {"dataType": "Customers", "actionType": "CreateOrUpdate"}, "attachment": _attachment(content)}
    answer = client.post("/jobs", body, headers={"Idempotency-Key": "attach-1"})
    assert answer.status == 201
    job = answer.json()
    assert answer.headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] == "pending" and job["type"] == "import_json"
    assert job["attachment"]["name"] == "customers.json"
    assert job["attachment"]["size"] == len(json.dumps(content).encode())
    assert answer.headers["x-request-id"]
    done = client.wait(job["id"])
    assert done["status"] == "finished" and done["progress"]["succeeded"] == 2
    assert done["started_at"] <= done["terminated_at"] and done["metrics"]["run_ms"] >= 0
    again = client.post("/jobs", body, headers={"Idempotency-Key": "attach-1"})
    assert again.status == 200 and again.json()["id"] == job["id"]


def test_bad_job_requests_name_the_field_and_store_nothing(client):
    before = client.get("/jobs?limit=1000").json()["page"]["count"]
    cases = {
        "/type": {"type": "reticulate", "args": {}},
        "/args/actionType": {"type": "import_json", "args": {"dataType": "Customers", "actionType": "Explode"}, "attachment": _attachment([])},
        "/attachment": {"type": "import_json", "args": {"dataType": "Customers", "actionType": "Create"}},
        "/attachment/file": {"type": "import_json", "args": {"dataType": "Customers", "actionType": "Create"}, "attachment": {"name": "x.json", "file": "%%%"}},
    }
    for pointer, body in cases.items():
        answer = client.post("/jobs", body)
        assert answer.status == 422, (pointer, answer.body)
        assert pointer in [e["pointer"] for e in answer.json()["errors"]], answer.json()
    # Args that would not fit the job's item: a 422 naming them, never a 500.
    columns = {f"Spalte {n} " + "ä" * 180: "name" for n in range(500)}
    huge = {"type": "import_csv", "args": {"dataType": "Customers", "actionType": "Create", "columns": columns}, "attachment": {"name": "a.csv", "file": "YQ=="}}
    answer = client.post("/jobs", huge)
    assert answer.status == 422 and answer.json()["errors"] == [{"pointer": "/args", "detail": "too large"}], answer.body
    not_json = client.post("/jobs", raw=b'{"type": ', headers={})
    assert not_json.status == 400 and "at line 1 column 9" in not_json.json()["detail"]
    csv = client.post("/jobs", raw=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
    assert csv.status == 415
    assert client.get("/jobs?limit=1000").json()["page"]["count"] == before


def test_jobs_list_pages_and_filters(client):
    ids = [client.import_rows("Customers", "CreateOrUpdate", [customer(800_000 + n)]) for n in range(5)]
    for job_id in ids:
        client.wait(job_id)
    seen, path = [], "/jobs?limit=2"
    while path:
        page = client.get(path).json()
        assert page["page"]["count"] <= 2
        seen.extend(j["id"] for j in page["items"])
        path = page["link"].get("next")
    assert seen.index(ids[4]) < seen.index(ids[0])  # newest first
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    finished = client.get("/jobs?status=finished&type=import_json&limit=1000").json()["items"]
    assert set(ids) <= {j["id"] for j in finished}
    assert all(j["status"] == "finished" for j in finished)
    assert client.get("/jobs?type=export_csv&limit=1000").json()["items"] == []
    # A type that does not exist is a typo to tell, not an empty page.
    typo = client.get("/jobs?type=import_jsn")
    assert typo.status == 422 and typo.json()["errors"][0]["pointer"] == "/query/type", typo.body
    assert "import_json" in typo.json()["errors"][0]["detail"]
    # Before 1970 is before every job: all of them, not none (a negative time once encoded as the largest id).
    assert {j["id"] for j in client.get("/jobs?limit=1000&created_after=1900-01-01T00%3A00%3A00Z").json()["items"]} >= set(ids)
    assert client.get("/jobs?limit=1000&created_before=1900-01-01T00%3A00%3A00Z").json()["items"] == []
    # The next link keeps the other filters, encoded: a '+' in a timestamp must not become a space.
    since = client.get("/jobs?limit=1&created_after=2020-01-01T00%3A00%3A00%2B00%3A00").json()
    following = client.get(since["link"]["next"])
    assert following.status == 200 and following.json()["items"][0]["id"] != since["items"][0]["id"]
    bad = client.get("/jobs?limit=0")
    assert bad.status == 422 and bad.json()["errors"][0]["pointer"] == "/query/limit"
    assert client.get("/jobs?status=exploded").status == 422
    garbage = client.get("/jobs?cursor=garbage")
    assert garbage.status == 400 and garbage.json()["errors"][0]["pointer"] == "/query/cursor"


def test_unknown_job_and_unknown_route(client):
    assert client.get("/jobs/01JUNKNOWN000000000000000").status == 404
    assert client.delete("/jobs/01JUNKNOWN000000000000000").status == 404
    assert client.get("/no-such-route").status == 404


def test_discovery_documents(client):
    types = client.get("/import/types").json()["items"]
    assert {t["dataType"] for t in types} == {
        "Products", "ProductPrices", "InvoiceDebts", "RelationshipDebts", "Customers",
        "Relationships", "TradeOutlets", "Tasks", "PersonalPrices", "ProductImages",
    }
    kinds = {k["type"]: k for k in client.get("/job-types").json()["items"]}
    assert {"import_json", "import_csv", "import_dovuti"} <= set(kinds)
    assert set(kinds["import_csv"]["args_schema"]["properties"]) == {"dataType", "actionType", "delimiter", "encoding", "columns"}
    spec = client.get("/openapi.json").json()
    assert "/import" in spec["paths"] and "/jobs/{job_id}" in spec["paths"]
    assert client.get("/docs").status == 200
