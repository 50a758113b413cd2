"""Seed 003's automatic CSV export through the local stack, nights fired with an injected clock, to a loopback SFTP server."""
from __future__ import annotations

import csv
import io
import time
import zipfile
from datetime import UTC, datetime

import pytest

from ferry_local.file_servers import SftpServer
from tests.e2e.rows import customer

pytestmark = pytest.mark.e2e

PASSWORD = "sftp-secret"
# 03:00 in Rome on two nights of November (UTC+1).
NIGHT_1 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
NIGHT_2 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


@pytest.fixture
def sftp(tmp_path):
    (tmp_path / "out").mkdir()
    with SftpServer(tmp_path, {"ferry": PASSWORD}) as server:
        yield server


def profile_body(sftp, **changes) -> dict:
    return {"name": "office SFTP", "type": "sftp", "host": "localhost", "port": sftp.port, "username": "ferry", "password": PASSWORD,
            "host_key_fingerprint": sftp.host_key_fingerprint, "folder": "/out", **changes}


def tick(local_stack, at: datetime) -> list[str]:
    return local_stack.fire_schedule("SchedulerFunction.Tick", at=at)["started"]


def wait_config(client, area: str, check, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while not check(config := client.get(f"/export-configs/{area}").json()):
        assert time.monotonic() < deadline, config
        time.sleep(0.1)
    return config


def wait_history(client, module: str, entries: int, timeout: float = 30) -> list[dict]:
    """The module's history once it holds `entries` runs: a night's entry is written just after its configuration moves on."""
    deadline = time.monotonic() + timeout
    while len(history := client.get(f"/export-history?module={module}").json()["items"]) < entries:
        assert time.monotonic() < deadline, history
        time.sleep(0.1)
    return history


def rows_in(path) -> list[list[str]]:
    with zipfile.ZipFile(path) as archive:
        [member] = archive.namelist()
        return list(csv.reader(io.StringIO(archive.read(member).decode("utf-8-sig"))))


def test_a_daily_config_exports_everything_the_first_night_and_only_the_changes_the_next(fresh, sftp, local_stack):
    client = fresh.client
    assert client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(n) for n in range(40)]))["status"] == "finished"
    profile = client.post("/export-profiles", profile_body(sftp)).json()
    config = client.request("PUT", "/export-configs/Customers", {"active": True, "profileId": profile["id"], "interval": "daily", "fields": ["vendorId", "name"], "prefix": "crm_"})
    assert config.status == 200 and config.json()["onlyChanged"] is True  # always on for daily
    started = tick(local_stack, NIGHT_1)
    assert len(started) >= 1
    first = wait_config(client, "Customers", lambda c: c.get("lastRunNight") == "2026-11-23")
    assert first["watermark"] and first["active"] is True
    assert len(rows_in(sftp.root / "out" / "crm_Customers_20261123.zip")) == 41
    assert not any(j in tick(local_stack, NIGHT_1) for j in started)  # the same night again starts nothing for this config
    time.sleep(0.05)
    assert client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(n, name=f"Changed {n}") for n in (3, 5, 8)]))["status"] == "finished"
    tick(local_stack, NIGHT_2)
    wait_config(client, "Customers", lambda c: c.get("lastRunNight") == "2026-11-24")
    second = rows_in(sftp.root / "out" / "crm_Customers_20261124.zip")
    assert sorted(r[0] for r in second[1:]) == ["C0000003", "C0000005", "C0000008"]
    history = wait_history(client, "Customers", 2)
    assert [h["ok"] for h in history[:2]] == [True, True] and history[0]["fileName"] == "crm_Customers_20261124.zip"
    assert history[0]["destination"]["password"] == "********"


def test_a_failing_export_deactivates_the_config_and_mails_the_technical_contact_once(fresh, sftp, local_stack):
    client = fresh.client
    contact = f"it@{fresh.tenant}.example.org"
    assert client.request("PUT", "/settings", {"technicalContact": contact}).status == 200
    client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(n) for n in range(5)]))
    profile = client.post("/export-profiles", profile_body(sftp, password="wrong")).json()
    client.request("PUT", "/export-configs/Customers", {"active": True, "profileId": profile["id"], "interval": "daily"})
    tick(local_stack, NIGHT_1)
    config = wait_config(client, "Customers", lambda c: c["active"] is False)
    assert config["lastFailure"]["phase"] == "connect"
    deadline = time.monotonic() + 30
    while not (mails := [m for m in local_stack.sent_mails() if contact in m["to"]]) and time.monotonic() < deadline:
        time.sleep(0.1)
    [mail] = mails
    assert "Customers" in mail["body"] and "office SFTP" in mail["body"] and "Phase: connect" in mail["body"] and "Reason:" in mail["body"]
    failed = client.get("/export-history?outcome=failed").json()["items"]
    assert failed and failed[0]["ok"] is False and failed[0]["module"] == "Customers"
    assert list((sftp.root / "out").iterdir()) == []
    again = client.request("PUT", "/export-configs/Customers", {"active": True, "profileId": profile["id"], "interval": "daily"})
    assert again.status == 200 and again.json()["active"] is True and again.json()["lastFailure"] is None


def test_config_and_profile_rules(fresh, sftp):
    client = fresh.client
    for prefix in ("x" * 21, "Grüße"):
        answer = client.request("PUT", "/export-configs/Customers", {"prefix": prefix})
        assert answer.status == 422 and answer.json()["errors"][0]["pointer"] == "/prefix", answer.body
    missing = client.request("PUT", "/export-configs/Customers", {"active": True})
    assert missing.status == 422 and {e["pointer"] for e in missing.json()["errors"]} == {"/profileId", "/interval"}
    client.request("PUT", "/settings", {"plan": "enterprise_plus"})
    for _ in range(3):
        assert client.post("/export-profiles", profile_body(sftp)).status == 201
    fourth = client.post("/export-profiles", profile_body(sftp))
    assert fourth.status == 422 and "enterprise_plus" in fourth.json()["detail"] and "3" in fourth.json()["detail"]
    [first, *_] = client.get("/export-profiles").json()["items"]
    read = client.get(f"/export-profiles/{first['id']}")
    assert read.json()["password"] == "********" and PASSWORD not in read.body.decode()


def test_a_test_export_sends_ten_records_without_moving_the_watermark(fresh, sftp, local_stack):
    client = fresh.client
    client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(n) for n in range(25)]))
    profile = client.post("/export-profiles", profile_body(sftp)).json()
    client.request("PUT", "/export-configs/Customers", {"active": True, "profileId": profile["id"], "interval": "weekly", "dateInName": False})
    [job_id] = client.post("/export-configs/Customers/test").json()["jobs"]
    assert client.wait(job_id)["status"] == "finished"
    assert len(rows_in(sftp.root / "out" / "Customers.zip")) == 11
    time.sleep(1)
    config = client.get("/export-configs/Customers").json()
    assert config["watermark"] is None and config["lastRunNight"] is None


def test_a_weekly_config_runs_only_in_the_night_from_sunday_to_monday(fresh, sftp, local_stack):
    import json
    import urllib.request

    client = fresh.client
    client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(n) for n in range(3)]))
    profile = client.post("/export-profiles", profile_body(sftp)).json()
    client.request("PUT", "/export-configs/Customers", {"active": True, "profileId": profile["id"], "interval": "weekly"})
    tuesday = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    tick(local_stack, tuesday)
    time.sleep(1)
    assert client.get("/export-configs/Customers").json()["lastRunNight"] is None
    # What `make trigger SCHEDULE=SchedulerFunction.Tick AT=...` calls, for Monday 30 November at 03:00 in Rome.
    url = f"{local_stack.url}/_local/schedules/SchedulerFunction.Tick?at=2026-11-30T02:00:00Z"
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=60) as answer:
        assert json.load(answer)["answer"]["started"]
    assert wait_config(client, "Customers", lambda c: c.get("lastRunNight") == "2026-11-30")["active"] is True


def test_a_tenant_time_zone_moves_its_night_and_none_means_the_deployment_default(fresh, sftp, local_stack):
    client = fresh.client
    assert client.get("/settings").json()["timeZone"] is None  # the template's DefaultTimeZone, Europe/Rome, applies
    assert client.request("PUT", "/settings", {"timeZone": "America/New_York"}).status == 200
    client.wait(client.import_rows("Customers", "CreateOrUpdate", [customer(n) for n in range(3)]))
    profile = client.post("/export-profiles", profile_body(sftp)).json()
    client.request("PUT", "/export-configs/Customers", {"active": True, "profileId": profile["id"], "interval": "daily"})
    tick(local_stack, NIGHT_1)  # 03:00 in Rome is still 22 November in New York: that night, not Rome's 23rd
    assert wait_config(client, "Customers", lambda c: c.get("lastRunNight"))["lastRunNight"] == "2026-11-22"
    tick(local_stack, datetime(2026, 11, 23, 7, 0, tzinfo=UTC))  # 02:00 in New York: the 23rd is not due yet
    time.sleep(1)
    assert client.get("/export-configs/Customers").json()["lastRunNight"] == "2026-11-22"
    tick(local_stack, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # 03:00 in New York (UTC-5)
    assert wait_config(client, "Customers", lambda c: c.get("lastRunNight") == "2026-11-23")["active"] is True
    refused = client.request("PUT", "/settings", {"timeZone": "Mars/Olympus"})
    assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/timeZone"


def test_a_refused_configuration_points_into_its_own_body_and_an_oversized_one_is_a_422_storing_nothing(fresh):
    client = fresh.client
    refused = client.request("PUT", "/export-configs/Contacts", {"filter": {"$where": "1"}, "fields": ["lastName"]})
    assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/filter/$where", refused.body
    refused = client.request("PUT", "/export-configs/Contacts", {"fields": ["lastName", "shoeSize"]})
    assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/fields/1", refused.body
    refused = client.request("PUT", "/export-configs/Contacts", {"filter": {"lastName": {"$in": [f"n{n}" for n in range(100_000)]}}})
    assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/filter", refused.body
    assert client.get("/export-configs/Contacts").status == 404
    # 100 files named in another script: each key within S3's 1024 bytes, or a 422 naming it, never a 500.
    refused = client.request("PUT", "/settings", {"importFiles": [{"key": "ключ" * 256, "dataType": "Customers"}] * 100})
    assert refused.status == 422 and refused.json()["errors"][0]["pointer"] == "/importFiles/0/key", refused.body
    assert client.get("/settings").json()["importFiles"] == []
