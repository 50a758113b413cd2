"""Seed 000's integration procedures through the local stack: single flight, the demo ERP, mails by outcome."""
from __future__ import annotations

import base64
import concurrent.futures
import http.server
import json
import re
import sqlite3
import threading
import time

import pytest

from ferry.store.port import Collection
from ferry_local.demo_erp import build_demo_erp

pytestmark = pytest.mark.e2e


@pytest.fixture
def erp(fresh, local_stack, tmp_path):
    """A demo ERP for the fresh tenant, and mail recipients by outcome."""
    path = tmp_path / "erp.sqlite3"
    local_stack.put_secret(f"{fresh.tenant}/erp", {"url": build_demo_erp(path)})
    settings = {"NotificationCenter": {"ErrorRecipients": [f"ops@{fresh.tenant}.example.org"], "InfoRecipients": [f"erp@{fresh.tenant}.example.org"]}}
    assert fresh.client.request("PUT", "/settings", settings).status == 200
    return path


def mails_to(local_stack, address: str, at_least: int = 1, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(found := [m for m in local_stack.sent_mails() if address in m["to"]]) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def start(client, endpoint: str):
    return client.get(f"/Integration/{endpoint}")


def test_unknown_endpoints_and_tables_are_refused_naming_the_known_ones(fresh):
    answer = start(fresh.client, "FullImportFromSap")
    assert answer.status == 404 and "FullImportFromErp" in answer.json()["detail"] and "ExportToErp" in answer.json()["detail"]
    answer = start(fresh.client, "ImportFromErp?tables=Item,Spaceship")
    assert answer.status == 400 and "Spaceship" in answer.json()["detail"] and "ItemOfflineAvailability" in answer.json()["detail"]
    assert answer.json()["errors"][0]["pointer"] == "/query/tables/1"
    answer = start(fresh.client, "ImportFromErp?tables=" + ",".join(["Item"] * 7))
    assert answer.status == 400 and answer.headers["content-type"] == "application/problem+json", answer.body
    assert answer.json()["errors"][0]["pointer"] == "/query/tables" and "ItemOfflineAvailability" in answer.json()["detail"]
    assert fresh.client.get("/jobs").json()["items"] == []


def test_an_import_from_the_erp_then_a_load_fills_the_store_and_mails_the_info_recipients(fresh, erp, entities, local_stack):
    accepted = start(fresh.client, "ImportFromErp?tables=Item,ItemOfflineAvailability")
    assert accepted.status == 202 and accepted.json()["accepted"] is True, accepted.body
    job = fresh.client.wait(accepted.json()["jobId"], timeout=120)
    assert job["status"] == "finished" and job["type"] == "procedure" and "Item" in job["output"], job
    loaded = fresh.client.wait(start(fresh.client, "LoadFromIntegrator").json()["jobId"], timeout=120)
    assert loaded["status"] == "finished", loaded
    assert entities.count(Collection(fresh.tenant, "Items")) == 36
    assert entities.count(Collection(fresh.tenant, "Accounts")) == 0  # only the tables asked were read
    [first, second] = mails_to(local_stack, f"erp@{fresh.tenant}.example.org", at_least=2)
    assert first["subject"] == "[Ferry] ImportFromErp succeeded" and "Duration:" in first["body"]
    assert second["subject"] == "[Ferry] LoadFromIntegrator succeeded"
    assert mails_to(local_stack, f"ops@{fresh.tenant}.example.org", timeout=0) == []


def test_a_second_command_while_one_runs_is_refused_naming_the_running_job(fresh, erp, local_stack):
    local_stack.slow_down("run_part", times=1, seconds=3)
    first = start(fresh.client, "FullImportFromErp")
    assert first.status == 202
    busy = start(fresh.client, "ExportToErp")
    assert busy.status == 409 and busy.json() == {"accepted": False, "reason": "busy", "runningJobId": first.json()["jobId"]}
    assert fresh.client.wait(first.json()["jobId"], timeout=120)["status"] == "finished"
    after = start(fresh.client, "ExportToErp")  # the lane is free again
    assert after.status == 202
    fresh.client.wait(after.json()["jobId"], timeout=120)


def test_fifty_concurrent_commands_start_exactly_one(fresh, erp, local_stack):
    local_stack.slow_down("run_part", times=1, seconds=10)  # the first is still running when the last request arrives
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: start(fresh.client, "FullImportFromErp"), range(50)))
    accepted = [a for a in answers if a.status == 202]
    refused = [a for a in answers if a.status == 409]
    assert len(accepted) == 1 and len(refused) == 49, [a.status for a in answers]
    job_id = accepted[0].json()["jobId"]
    assert {a.json()["runningJobId"] for a in refused} == {job_id}
    assert len(fresh.client.get("/jobs").json()["items"]) == 1
    fresh.client.wait(job_id, timeout=120)


def test_a_broken_erp_connection_fails_the_job_and_mails_the_error_recipients_once(fresh, local_stack, tmp_path):
    local_stack.put_secret(f"{fresh.tenant}/erp", {"url": f"sqlite:///{tmp_path}/missing/dir/erp.sqlite3"})
    fresh.client.request("PUT", "/settings", {"NotificationCenter": {"ErrorRecipients": [f"ops@{fresh.tenant}.example.org"]}})
    job = fresh.client.wait(start(fresh.client, "FullImportFromErp").json()["jobId"], timeout=120)
    assert job["status"] == "failed" and job["output"].startswith("The parts step failed"), job["output"]
    [mail] = mails_to(local_stack, f"ops@{fresh.tenant}.example.org")
    assert mail["subject"] == "[Ferry] FullImportFromErp failed" and "The parts step failed" in mail["body"]
    time.sleep(1)
    assert len(mails_to(local_stack, f"ops@{fresh.tenant}.example.org", timeout=0)) == 1
    # EventBridge delivers at least once: the same Job Ended again mails nobody.
    repeat = {"source": "ferry", "detail-type": "Job Ended", "detail": {**job, "tenant": fresh.tenant}}
    assert local_stack.invoke("NotifierFunction", repeat) == {"sent": False, "repeat": True}
    assert len(mails_to(local_stack, f"ops@{fresh.tenant}.example.org", timeout=0)) == 1


def test_export_to_erp_writes_each_new_order_exactly_once(fresh, erp, entities, local_stack):
    orders = [{"number": f"WEB-{n}", "accountCode": "ACC-001", "date": "2026-11-22", "lines": [{"itemCode": "ART-0001", "quantity": 2}]} for n in range(6)]
    created = fresh.client.post("/jobs", {"type": "import_json", "args": {"dataType": "Orders", "actionType": "CreateOrUpdate"},
                                          "attachment": {"name": "orders.json", "mime_type": "application/json", "file": _b64(orders)}})
    assert fresh.client.wait(created.json()["id"])["status"] == "finished"
    for _ in range(2):
        done = fresh.client.wait(start(fresh.client, "ExportToErp").json()["jobId"], timeout=120)
        assert done["status"] == "finished", done
    with sqlite3.connect(erp) as db:
        counts = dict(db.execute('SELECT OrderNumber, COUNT(*) FROM "Order" WHERE OrderNumber LIKE \'WEB-%\' GROUP BY OrderNumber').fetchall())
    assert counts == {f"WEB-{n}": 1 for n in range(6)}


def _b64(rows: list[dict]) -> str:
    return base64.b64encode(json.dumps(rows).encode()).decode()


def test_load_and_prepare_sync_data_builds_one_package_per_agent_and_mails_once(fresh, erp, local_stack):
    imported = fresh.client.wait(start(fresh.client, "FullImportFromErp").json()["jobId"], timeout=120)
    assert imported["status"] == "finished", imported
    composite = fresh.client.wait(start(fresh.client, "LoadFromIntegratorAndPrepareSyncData").json()["jobId"], timeout=120)
    assert composite["status"] == "finished", composite
    assert composite["output"].startswith("LoadFromIntegrator: ") and " SyncDataCreation: " in composite["output"]
    s3 = local_stack.session.client("s3")
    bucket = local_stack.stack.physical("FilesBucket")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"sync/{fresh.tenant}/").get("Contents", []))
    packages = [k for k in keys if k.endswith("/data.json.gz")]
    assert len(packages) == 3 and f"sync/{fresh.tenant}/manifest.json" in keys  # the demo ERP's three agents
    mails = [m for m in mails_to(local_stack, f"erp@{fresh.tenant}.example.org", at_least=2) if "LoadFromIntegratorAndPrepareSyncData" in m["subject"]]
    assert len(mails) == 1


def test_geocoding_places_the_accounts_with_the_offline_gazetteer(fresh, erp, entities):
    fresh.client.wait(start(fresh.client, "FullImportFromErp").json()["jobId"], timeout=120)
    fresh.client.wait(start(fresh.client, "LoadFromIntegrator").json()["jobId"], timeout=120)
    job = fresh.client.wait(start(fresh.client, "GeocodeAddresses").json()["jobId"], timeout=120)
    assert job["status"] == "finished", job
    placed = [d for d in entities.query(Collection(fresh.tenant, "Accounts"), _all()).docs if "geoCoordinate" in d]
    assert len(placed) >= 15  # the demo accounts are in Italian cities
    again = fresh.client.wait(start(fresh.client, "GeocodeAddresses").json()["jobId"], timeout=120)
    assert again["status"] == "finished" and again["progress"]["processed"] <= job["progress"]["processed"]


def _all():
    from ferry.store.port import Query

    return Query(limit=1000)


def test_a_scheduled_or_console_run_creates_its_job_and_respects_the_lane(fresh, erp, local_stack):
    """What a procedure's schedule (or an operator in the console) does: start the state machine with the procedure."""
    sfn = local_stack.session.client("stepfunctions")
    machine = local_stack.stack.arn("ProcedureStateMachine")
    run = {"kind": "procedure", "tenant": fresh.tenant, "args": {"procedure": "FullImportFromErp"}}
    local_stack.slow_down("run_part", times=1, seconds=3)
    sfn.start_execution(stateMachineArn=machine, name=f"ExportToErpSchedule-{time.time_ns()}", input=json.dumps(run))
    deadline = time.monotonic() + 30
    while not (items := fresh.client.get("/jobs").json()["items"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert start(fresh.client, "ExportToErp").status == 409  # the scheduled run holds the lane
    assert fresh.client.wait(items[0]["id"], timeout=120)["status"] == "finished"


def test_a_run_killed_mid_way_holds_the_lane_until_its_lease_expires(fresh, erp, local_stack):
    # Killed for good: the part fails, and every attempt to record the failure (1 + 5 retries) times out.
    local_stack.inject_failure("run_part", times=1, error_type="ErpUnreachable")
    local_stack.inject_failure("fail", times=6, error_type="Sandbox.Timedout")
    killed = start(fresh.client, "FullImportFromErp").json()["jobId"]
    sfn = local_stack.session.client("stepfunctions")
    execution = f"{local_stack.stack.arn('ProcedureStateMachine').replace(':stateMachine:', ':execution:')}:{killed}"
    deadline = time.monotonic() + 120
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    busy = start(fresh.client, "ExportToErp")
    assert busy.status == 409 and busy.json()["runningJobId"] == killed
    # Time passes (as the lease sees it): the lease's end moved to the past, as 20 minutes would.
    table = local_stack.session.resource("dynamodb").Table(local_stack.stack.physical("JobsTable"))
    table.update_item(
        Key={"pk": f"T#{fresh.tenant}", "sk": "LEASE#procedures"},
        UpdateExpression="SET lease_until = :past",
        ConditionExpression="holder = :killed",
        ExpressionAttributeValues={":past": int(time.time()) - 1, ":killed": killed},
    )
    after = start(fresh.client, "ExportToErp")
    assert after.status == 202
    assert fresh.client.wait(after.json()["jobId"], timeout=120)["status"] == "finished"
    local_stack.invoke("SweeperFunction", {"older_than_seconds": 0})  # the killed job is ended by the sweeper, as every 5 minutes in AWS
    assert fresh.client.get(f"/jobs/{killed}").json()["status"] == "failed"


def test_a_run_the_sweeper_ended_no_longer_holds_the_lane(fresh, erp, local_stack):
    # The execution dies (here: stopped by an operator) with the job still running and the lease held.
    local_stack.slow_down("run_part", times=1, seconds=3)
    stopped = start(fresh.client, "FullImportFromErp").json()["jobId"]
    sfn = local_stack.session.client("stepfunctions")
    execution = f"{local_stack.stack.arn('ProcedureStateMachine').replace(':stateMachine:', ':execution:')}:{stopped}"
    sfn.stop_execution(executionArn=execution)
    deadline = time.monotonic() + 30  # moto marks it ABORTED once its interpreter notices
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert start(fresh.client, "ExportToErp").status == 409

    local_stack.invoke("SweeperFunction", {"older_than_seconds": 0})

    assert fresh.client.get(f"/jobs/{stopped}").json()["status"] == "failed"
    # No command runs any more: the next one is accepted, not told that the failed job is running.
    after = start(fresh.client, "ExportToErp")
    assert after.status == 202, after.json()
    assert fresh.client.wait(after.json()["jobId"], timeout=120)["status"] == "finished"


class SlowImages(http.server.ThreadingHTTPServer):
    """An image host on loopback that takes its time over each image and has none at /missing/."""

    def __init__(self, seconds: float) -> None:
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(seconds)
                if self.path.startswith("/missing/"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def test_downloading_items_images_reports_its_progress_as_it_goes_and_its_summary_at_the_end(fresh):
    images = SlowImages(seconds=0.5)
    try:
        base = f"http://localhost:{images.server_address[1]}"
        items = [{"code": f"I{n:02d}", "imageUrl": f"{base}/{'missing' if n in (5, 17) else 'images'}/{n}.png"} for n in range(32)]
        attachment = {"name": "items.json", "mime_type": "application/json", "file": base64.b64encode(json.dumps(items).encode()).decode()}
        created = fresh.client.post("/jobs", {"type": "import_json", "args": {"dataType": "Items", "actionType": "CreateOrUpdate"}, "attachment": attachment})
        assert created.status == 201, created.body
        imported = fresh.client.wait(created.json()["id"], timeout=120)
        assert imported["status"] == "finished", imported
        accepted = start(fresh.client, "DownloadItemsImages")
        assert accepted.status == 202, accepted.body
        job_id = accepted.json()["jobId"]
        seen: list[str | None] = []
        deadline = time.monotonic() + 120
        while (job := fresh.client.get(f"/jobs/{job_id}").json())["status"] not in ("finished", "failed", "cancelled"):
            assert time.monotonic() < deadline, job
            if not seen or seen[-1] != job["running_output"]:
                seen.append(job["running_output"])
            time.sleep(0.05)
    finally:
        images.shutdown()
        images.server_close()

    # Eight rounds of four images at 0.5 s each: a client polling sees the count grow, not only the start and the end.
    progress = [text for text in seen if text and re.fullmatch(r"DownloadItemsImages: \d+ of 32 items, \d+ failed", text)]
    assert len(progress) >= 3 and any(not text.startswith(("DownloadItemsImages: 0 of", "DownloadItemsImages: 32 of")) for text in progress), seen
    counts = [int(text.split()[1]) for text in progress]
    assert counts == sorted(counts), seen
    summary = "30 images downloaded, 0 unchanged, 2 failed."
    assert seen[-1] in (progress[-1], f"DownloadItemsImages: {summary}"), seen
    assert job["status"] == "finished" and job["output"] == f"DownloadItemsImages: {summary}", job
    assert job["running_output"] is None  # nothing runs any more: the output says what was done
    assert job["progress"]["processed"] == 32 and job["progress"]["failed"] == 2, job
    assert fresh.client.get(f"/api/jobs/{job_id}").json()["output"] == f"DownloadItemsImages: {summary}"
