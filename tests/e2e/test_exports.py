"""Exports through the local stack to a real SFTP server on loopback: seed 001's /export/jobs, segments, destinations."""
from __future__ import annotations

import contextlib
import csv
import io
import time
import urllib.request
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from ferry_local.file_servers import FtpServer, SftpServer
from tests.e2e.rows import customer

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse"


@pytest.fixture
def sftp(tmp_path):
    (tmp_path / "exports").mkdir()
    with SftpServer(tmp_path, {"ferry": PASSWORD}) as server:
        yield server


def destination_body(sftp: SftpServer, **changes: object) -> dict:
    body = {
        "name": "loopback sftp",
        "type": "sftp",
        "host": "localhost",
        "port": sftp.port,
        "username": "ferry",
        "password": PASSWORD,
        "host_key_fingerprint": sftp.host_key_fingerprint,
        "folder": "/exports",
    }
    return {**body, **changes}


def imported(client, rows: list[dict]) -> None:
    job = client.wait(client.import_rows("Customers", "CreateOrUpdate", rows), timeout=120)
    assert job["status"] == "finished", job


def csv_in_zip(content: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        [member] = archive.namelist()
        text = archive.read(member).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def wait_export(client, job_id: str) -> dict:
    client.wait(job_id, timeout=120)
    return client.get(f"/export/jobs/{job_id}").json()


def test_an_export_lands_on_the_sftp_server_as_a_zip_with_the_requested_columns(fresh, sftp):
    imported(fresh.client, [customer(n) for n in range(1500)])
    created = fresh.client.post("/destinations", destination_body(sftp))
    assert created.status == 201, created.body
    destination = created.json()
    assert destination["password"] == "********" and PASSWORD not in created.body.decode()
    assert fresh.client.post(f"/destinations/{destination['id']}/check").json() == {"ok": True}
    body = {"fields": "vendorId,name,location.settlement", "schema": {"name": "Customers"}, "destination": {"datasetId": destination["id"]}}
    answer = fresh.client.post("/export/jobs", body)
    assert answer.status == 200, answer.body
    assert answer.json()["status"] in ("NEW", "PROCESSING") and answer.json()["schema"] == {"name": "Customers"}
    job = wait_export(fresh.client, answer.json()["id"])
    assert job["status"] == "SUCCEEDED", job
    assert job["errors"] == [] and job["metrics"]["totalTime"]["totalTimeInMs"] >= 0
    name = f"Customers_{datetime.now(UTC):%Y%m%d}.zip"
    landed = sorted(p.name for p in (sftp.root / "exports").iterdir())
    assert landed == [name], landed  # no temporary file left beside it
    rows = csv_in_zip((sftp.root / "exports" / name).read_bytes())
    assert rows[0] == ["vendorId", "name", "location.settlement"] and len(rows) == 1501
    assert rows[1] == ["C0000000", "OOO Svetlyachok 0", "Kyiv"]
    result = fresh.client.get(f"/jobs/{job['id']}/result", headers={})
    assert result.status == 302
    with urllib.request.urlopen(result.headers["location"], timeout=30) as download:
        assert len(csv_in_zip(download.read())) == 1501


def test_an_incremental_export_holds_only_what_changed_since(fresh):
    imported(fresh.client, [customer(n) for n in range(50)])
    time.sleep(0.05)
    since = (datetime.now(UTC) - timedelta(milliseconds=10)).isoformat().replace("+00:00", "Z")
    imported(fresh.client, [customer(7, name="Renamed")])
    body = {"schema": {"name": "Customers"}, "fields": "vendorId,name", "filter": {"fromIngestTimestamp": since}}
    job = wait_export(fresh.client, fresh.client.post("/export/jobs", body).json()["id"])
    assert job["status"] == "SUCCEEDED" and job["filter"]["fromIngestTimestamp"]
    result = fresh.client.get(f"/jobs/{job['id']}/result")
    with urllib.request.urlopen(result.headers["location"], timeout=30) as download:
        assert csv_in_zip(download.read()) == [["vendorId", "name"], ["C0000007", "Renamed"]]


@pytest.mark.parametrize(("change", "step"), [({"password": "wrong"}, "auth"), ({"host_key_fingerprint": "SHA256:" + "A" * 43}, "host_key")])
def test_a_refusing_server_fails_the_export_naming_the_phase_and_leaves_no_file(fresh, sftp, change, step):
    imported(fresh.client, [customer(n) for n in range(20)])
    destination = fresh.client.post("/destinations", destination_body(sftp, **change)).json()
    check = fresh.client.post(f"/destinations/{destination['id']}/check").json()
    assert check["ok"] is False and check["step"] == step
    body = {"schema": {"name": "Customers"}, "destination": {"datasetId": destination["id"]}}
    job = wait_export(fresh.client, fresh.client.post("/export/jobs", body).json()["id"])
    assert job["status"] == "FAILED"
    assert job["errors"][0]["code"] == "connect" and job["errors"][0]["msg"]
    assert "connect phase" in fresh.client.get(f"/jobs/{job['id']}").json()["output"]
    assert list((sftp.root / "exports").iterdir()) == []


def test_a_cancelled_export_ends_cancelled_with_no_file_at_the_destination(fresh, sftp, local_stack):
    imported(fresh.client, [customer(n) for n in range(20)])
    destination = fresh.client.post("/destinations", destination_body(sftp)).json()
    local_stack.slow_down("export", times=1, seconds=2)
    body = {"schema": {"name": "Customers"}, "destination": {"datasetId": destination["id"]}}
    job_id = fresh.client.post("/export/jobs", body).json()["id"]
    cancelled = fresh.client.delete(f"/export/jobs/{job_id}")
    assert (cancelled.status, cancelled.json()) == (200, {"status": True, "message": "Export job has been marked for cancelling"})
    assert wait_export(fresh.client, job_id)["status"] == "CANCELLED"
    assert list((sftp.root / "exports").iterdir()) == []


def test_an_unknown_field_or_data_type_is_refused_naming_it(fresh):
    answer = fresh.client.post("/export/jobs", {"schema": {"name": "Customers"}, "fields": "vendorId,shoeSize"})
    assert answer.status == 422 and "shoeSize" in answer.json()["detail"]
    assert answer.json()["errors"][0]["pointer"] == "/fields"
    answer = fresh.client.post("/export/jobs", {"schema": {"name": "Spaceships"}})
    assert answer.status == 422 and answer.json()["errors"][0]["pointer"] == "/schema/name"
    assert fresh.client.get("/export/jobs").json()["records"] == []


def test_an_idempotency_key_reused_with_another_body_is_that_problem_and_starts_nothing(fresh):
    body = {"schema": {"name": "Customers"}, "fields": "vendorId"}
    first = fresh.client.post("/export/jobs", body, headers={"Idempotency-Key": "export-1"})
    again = fresh.client.post("/export/jobs", body, headers={"Idempotency-Key": "export-1"})
    assert first.status == again.status == 200 and again.json()["id"] == first.json()["id"]
    other = fresh.client.post("/export/jobs", {**body, "fields": "name"}, headers={"Idempotency-Key": "export-1"})
    assert other.status == 422 and other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert other.json()["errors"] == [{"pointer": "/headers/Idempotency-Key", "detail": "already used"}]
    assert [r["id"] for r in fresh.client.get("/export/jobs").json()["records"]] == [first.json()["id"]]


def test_segments_filter_an_export_and_refuse_operators_that_run_code(fresh):
    imported(fresh.client, [customer(n) for n in range(10)] + [customer(100 + n, location={**customer(0)["location"], "settlement": "Lviv"}) for n in range(3)])
    for operator in ("$where", "$function", "$expr"):
        refused = fresh.client.post("/segments", {"name": "bad", "dataType": "Customers", "filter": {operator: "sleep(1000)"}})
        assert refused.status == 422 and operator in refused.json()["detail"], refused.body
    refused = fresh.client.post("/segments", {"name": "bad", "dataType": "Customers", "filter": {"name": {"$regex": ".*x"}}})
    assert refused.status == 422 and "$regex" in refused.json()["detail"]
    segment = fresh.client.post("/segments", {"name": "Lviv", "dataType": "Customers", "filter": {"location.settlement": "Lviv"}}).json()
    assert fresh.client.get(f"/segments/{segment['id']}").json()["filter"] == {"location.settlement": "Lviv"}
    body = {"schema": {"name": "Customers"}, "fields": "vendorId", "filter": {"segments": [{"segmentId": segment["id"], "segmentNs": "ups"}]}}
    job = wait_export(fresh.client, fresh.client.post("/export/jobs", body).json()["id"])
    result = fresh.client.get(f"/jobs/{job['id']}/result")
    with urllib.request.urlopen(result.headers["location"], timeout=30) as download:
        assert [r[0] for r in csv_in_zip(download.read())[1:]] == ["C0000100", "C0000101", "C0000102"]
    unknown = fresh.client.post("/export/jobs", {"schema": {"name": "Customers"}, "filter": {"segments": [{"segmentId": "nope"}]}})
    assert unknown.status == 422 and unknown.json()["errors"][0]["pointer"] == "/filter/segments/0"
    other_type = fresh.client.post("/export/jobs", {"schema": {"name": "Products"}, "filter": {"segments": [{"segmentId": segment["id"]}]}})
    assert other_type.status == 422 and other_type.json()["errors"][0]["pointer"] == "/filter/segments/0", other_type.body
    assert "Customers" in other_type.json()["detail"]


def test_a_filter_member_that_would_not_be_applied_is_refused_not_ignored(fresh):
    for member, value in (("vendorId", "C0000001"), ("$where", "1"), ("name", {"$regex": "a"})):
        refused = fresh.client.post("/export/jobs", {"schema": {"name": "Customers"}, "filter": {member: value}})
        assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == f"/filter/{member}", refused.body
    seeds_own = {"segmentQualificationTime": {"startTime": "2018-01-01T00:00:00Z"}, "emptyProfiles": True}
    assert fresh.client.post("/export/jobs", {"schema": {"name": "Customers"}, "filter": seeds_own}).status == 200
    blank = fresh.client.post("/export/jobs", {"schema": {"name": "Customers"}, "fields": ",,,"})
    assert blank.status == 422 and blank.json()["errors"][0]["pointer"] == "/fields"
    assert len(fresh.client.get("/export/jobs").json()["records"]) == 1


def test_a_refused_filter_points_at_the_operator_where_it_was_sent_and_an_oversized_one_is_a_422(fresh):
    where = {"$or": [{"$where": "sleep(1000)"}]}
    refused = fresh.client.post("/segments", {"name": "bad", "dataType": "Customers", "filter": where})
    assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/filter/$or/0/$where"
    refused = fresh.client.post("/jobs", {"type": "export_csv", "args": {"dataType": "Customers", "filter": where}})
    assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/args/filter/$or/0/$where"
    # 100,000 values would not fit the item that keeps the filter: a 422 naming it, never a 500.
    huge = {"vendorId": {"$in": [f"C{n:07d}" for n in range(100_000)]}}
    for path, body, pointer in (
        ("/segments", {"name": "huge", "dataType": "Customers", "filter": huge}, "/filter"),
        ("/jobs", {"type": "export_csv", "args": {"dataType": "Customers", "filter": huge}}, "/args/filter"),
    ):
        refused = fresh.client.post(path, body)
        assert refused.status == 422 and refused.headers["content-type"] == "application/problem+json", refused.body
        assert refused.json()["errors"] == [{"pointer": pointer, "detail": "a filter takes at most 32 KB of JSON"}]
    assert fresh.client.get("/segments").json()["items"] == []
    assert fresh.client.get("/jobs").json()["items"] == []


def test_the_list_pages_with_offsets_and_filters_by_the_seeds_statuses(fresh):
    for _ in range(3):
        fresh.client.wait(fresh.client.post("/export/jobs", {"schema": {"name": "Customers"}}).json()["id"])
    first = fresh.client.get("/export/jobs?limit=2").json()
    assert len(first["records"]) == 2 and first["page"]["pageOffset"] == 0 and first["page"]["sortField"] == "createdTime"
    second = fresh.client.get(first["link"]["next"]).json()
    assert len(second["records"]) == 1 and "next" not in second["link"]
    assert len(fresh.client.get("/export/jobs?status=SUCCEEDED").json()["records"]) == 3
    assert fresh.client.get("/export/jobs?status=FAILED").json()["records"] == []
    assert fresh.client.get("/export/jobs?status=DONE").status == 422


def test_a_canonical_export_csv_job_shows_in_jobs_with_progress(fresh):
    imported(fresh.client, [customer(n) for n in range(30)])
    created = fresh.client.post("/jobs", {"type": "export_csv", "args": {"dataType": "Customers", "prefix": "nightly_", "dateInName": False, "headers": "labels"}})
    assert created.status == 201, created.body
    job = fresh.client.wait(created.json()["id"])
    assert job["status"] == "finished" and job["progress"]["processed"] == 30 and job["output"].startswith("30 Customers records exported as nightly_Customers.zip")
    result = fresh.client.get(f"/jobs/{job['id']}/result")
    with urllib.request.urlopen(result.headers["location"], timeout=30) as download:
        header = csv_in_zip(download.read())[0]
    assert header[0] == "Vendor id" and "Location settlement" in header
    refused = fresh.client.post("/jobs", {"type": "export_csv", "args": {"dataType": "Customers", "prefix": "überlong_prefix_12345"}})
    assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/args/prefix"
    forged = fresh.client.post("/jobs", {"type": "export_csv", "args": {"dataType": "Customers", "schedule": {"area": "Customers", "night": "2099-01-01"}}})
    assert forged.status == 422 and forged.json()["errors"][0]["pointer"] == "/args/schedule"  # only the scheduler sets it



def test_a_destination_on_a_private_address_is_refused_at_connect(fresh, sftp):
    destination = fresh.client.post("/destinations", destination_body(sftp, host="127.0.0.1")).json()
    check = fresh.client.post(f"/destinations/{destination['id']}/check").json()
    assert check["ok"] is False and check["step"] == "connect" and "loopback" in check["reason"]


def test_a_destination_naming_ferrys_own_bucket_is_refused(fresh, local_stack):
    bucket = local_stack.stack.physical("FilesBucket")
    destination = fresh.client.post("/destinations", {"name": "sneaky", "type": "s3", "bucket": bucket, "prefix": "exports/other-tenant"}).json()
    check = fresh.client.post(f"/destinations/{destination['id']}/check").json()
    assert check["ok"] is False and check["step"] == "permission" and "leaving bucket out" in check["reason"]


def test_an_export_to_the_tenants_own_bucket_is_written_as_its_role(fresh, local_stack):
    local_stack.session.client("s3").create_bucket(Bucket=f"{fresh.tenant}-imports")
    body = {"name": "our bucket", "type": "s3", "bucket": f"{fresh.tenant}-imports", "prefix": "ferry", "role_arn": "arn:aws:iam::210987654321:role/ferry-exports"}
    created = fresh.client.post("/destinations", body)
    assert created.status == 201, created.body
    destination = created.json()
    # What the tenant's role must ask for in its trust policy: theirs alone, so no other tenant can have Ferry take it.
    assert destination["external_id"] == f"ferry:{fresh.tenant}"
    assert fresh.client.request("PUT", f"/destinations/{destination['id']}", {**destination, "name": "read back and sent again"}).status == 200
    assert fresh.client.post(f"/destinations/{destination['id']}/check").json() == {"ok": True}
    imported(fresh.client, [customer(n) for n in range(3)])
    answer = fresh.client.post("/export/jobs", {"schema": {"name": "Customers"}, "fields": "vendorId", "destination": {"datasetId": destination["id"]}})
    assert wait_export(fresh.client, answer.json()["id"])["status"] == "SUCCEEDED"
    s3 = local_stack.session.client("s3")
    [landed] = s3.list_objects_v2(Bucket=f"{fresh.tenant}-imports")["Contents"]
    assert landed["Key"] == f"ferry/Customers_{datetime.now(UTC):%Y%m%d}.zip"
    assert len(csv_in_zip(s3.get_object(Bucket=f"{fresh.tenant}-imports", Key=landed["Key"])["Body"].read())) == 4
    refused = fresh.client.post("/destinations", {**body, "role_arn": "arn:aws:iam::210987654321:role/admin"})
    assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/role_arn"


def test_destinations_are_read_masked_updated_and_deleted(fresh, sftp):
    created = fresh.client.post("/destinations", destination_body(sftp)).json()
    read = fresh.client.get(f"/destinations/{created['id']}").json()
    assert read["password"] == "********" and read["has_private_key"] is False and "private_key" not in read
    renamed = fresh.client.request("PUT", f"/destinations/{created['id']}", {**destination_body(sftp), "name": "renamed", "password": "********"})
    assert renamed.status == 200 and renamed.json()["name"] == "renamed"
    assert fresh.client.post(f"/destinations/{created['id']}/check").json() == {"ok": True}  # the password was kept
    moved = fresh.client.request("PUT", f"/destinations/{created['id']}", {**destination_body(sftp), "host": "attacker.example.com", "password": "********"})
    assert moved.status == 422 and moved.json()["errors"][0]["pointer"] == "/password"  # the kept password never follows a new host
    assert [d["id"] for d in fresh.client.get("/destinations").json()["items"]] == [created["id"]]
    assert fresh.client.delete(f"/destinations/{created['id']}").status == 204
    assert fresh.client.get(f"/destinations/{created['id']}").status == 404
    refused = fresh.client.post("/destinations", destination_body(sftp, password=None))
    assert refused.status == 422 and PASSWORD not in refused.body.decode()


def test_segments_and_destinations_are_listed_in_pages_like_every_list(fresh, other_client):
    made = [fresh.client.post("/segments", {"name": f"s{n}", "dataType": "Customers", "filter": {"name": f"N{n}"}}).json()["id"] for n in range(3)]
    first = fresh.client.get("/segments?limit=2").json()
    assert [s["id"] for s in first["items"]] == made[::-1][:2] and first["page"] == {"limit": 2, "count": 2}
    second = fresh.client.get(first["link"]["next"]).json()
    assert [s["id"] for s in second["items"]] == [made[0]] and "next" not in second["link"]
    assert other_client.get(first["link"]["next"]).status == 400  # the cursor is this tenant's
    for path in ("/segments?limit=-5", "/destinations?limit=abc", "/export-profiles?limit=0"):
        refused = fresh.client.get(path)
        assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/query/limit", path
    assert fresh.client.get("/destinations").json() == {"items": [], "page": {"limit": 100, "count": 0}, "link": {}}


def test_a_create_sent_again_with_its_idempotency_key_makes_nothing_twice(fresh, sftp, local_stack):
    segment = {"name": "Rome", "dataType": "Customers", "filter": {"location.settlement": "Rome"}}
    profile = {**destination_body(sftp), "name": "nightly"}
    # The profile first: the plan (one profile by default) counts every destination.
    for path, body in (("/export-profiles", profile), ("/segments", segment), ("/destinations", destination_body(sftp))):
        key = {"Idempotency-Key": f"create {path}"}
        first = fresh.client.post(path, body, headers=key)
        again = fresh.client.post(path, body, headers=key)
        assert (first.status, again.status) == (201, 200), (path, first.body, again.body)
        assert again.json()["id"] == first.json()["id"] and again.headers["location"] == first.headers["location"]
        other = fresh.client.post(path, {**body, "name": "another"}, headers=key)
        assert other.status == 422 and other.json()["type"] == "/problems/idempotency-key-reused", (path, other.body)
    assert len(fresh.client.get("/segments").json()["items"]) == 1
    assert len(fresh.client.get("/destinations").json()["items"]) == 2  # one destination, one profile


class Delivered:
    """A destination of one type in the stack, and what is at its end under a file name."""

    def __init__(self, kind: str, tmp_path, local_stack, client) -> None:
        self.kind = kind
        self._servers = contextlib.ExitStack()
        self._local_stack = local_stack
        if kind == "s3":
            body = {"name": "ferry's bucket", "type": "s3", "prefix": "nightly"}
        else:
            (tmp_path / "exports").mkdir()
            server = self._servers.enter_context(SftpServer(tmp_path, {"ferry": PASSWORD}) if kind == "sftp" else FtpServer(tmp_path, {"ferry": PASSWORD}))
            body = destination_body(server) if kind == "sftp" else {"name": "loopback ftp", "type": "ftp", "host": "localhost", "port": server.port, "username": "ferry", "password": PASSWORD, "folder": "/exports"}
        self._folder = tmp_path / "exports"
        created = client.post("/destinations", body)
        assert created.status == 201, created.body
        self.id = created.json()["id"]

    def read(self, tenant: str, name: str) -> bytes | None:
        if self.kind != "s3":
            path = self._folder / name
            return path.read_bytes() if path.exists() else None
        s3 = self._local_stack.session.client("s3")
        try:
            return s3.get_object(Bucket=self._local_stack.stack.physical("FilesBucket"), Key=f"exports/{tenant}/nightly/{name}")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    def close(self) -> None:
        self._servers.close()


@pytest.mark.parametrize("kind", ["sftp", "ftp", "s3"])
def test_cancelling_an_export_after_a_later_one_replaced_its_file_leaves_the_later_ones_file(fresh, tmp_path, local_stack, kind):
    # Two exports of one data type and prefix write one file name; the older is cancelled after it delivered,
    # and ends only after the newer delivered: its clean-up must not take away the newer one's file.
    destination = Delivered(kind, tmp_path, local_stack, fresh.client)
    try:
        imported(fresh.client, [customer(n) for n in range(20)])
        body = {"schema": {"name": "Customers"}, "destination": {"datasetId": destination.id}}
        name = f"Customers_{datetime.now(UTC):%Y%m%d}.zip"
        local_stack.slow_down("finish", times=1, seconds=10)  # the older export's Finish, once it delivered
        older = fresh.client.post("/export/jobs", body).json()["id"]
        deadline = time.monotonic() + 60
        while destination.read(fresh.tenant, name) is None:
            assert time.monotonic() < deadline, fresh.client.get(f"/jobs/{older}").json()
            time.sleep(0.1)
        assert fresh.client.delete(f"/export/jobs/{older}").status == 200
        imported(fresh.client, [customer(n) for n in range(20, 30)])
        newer = wait_export(fresh.client, fresh.client.post("/export/jobs", body).json()["id"])
        assert newer["status"] == "SUCCEEDED", newer
        assert fresh.client.get(f"/jobs/{older}").json()["status"] == "cancelling"  # it has not ended yet: the order this test is about
        assert len(csv_in_zip(destination.read(fresh.tenant, name))) == 31

        ended = fresh.client.wait(older, timeout=60)

        landed = destination.read(fresh.tenant, name)
        assert landed is not None and len(csv_in_zip(landed)) == 31  # the newer export's file, as it reports
        assert ended["status"] == "cancelled"
        assert ended["output"] == f"Cancelled: {name} at the destination was left as it is: it is not, or not known to be, the file this job delivered."
    finally:
        destination.close()
