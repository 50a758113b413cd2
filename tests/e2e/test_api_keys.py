"""API keys as an operator manages them (`make key`, python -m ferry_admin) and as the HTTP API's authorizer checks them."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from tests.e2e.client import FerryClient
from tests.e2e.conftest import API_KEY_CACHE_SECONDS


def admin(local_stack, *args: str) -> str:
    """Runs the operator's command against the running local stack, as `make key` does; answers what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "ferry_admin", "--port", str(local_stack.port), *args],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_created_key_works_at_once_and_a_revoked_one_is_refused_after_the_cache_time(local_stack):
    printed = admin(local_stack, "keys", "create", "--tenant", "acme", "--name", "acme ERP")
    key_id = re.search(r"Created (key_\w+)", printed)[1]
    api_key = re.search(r"^\s+(fy_\S+)$", printed, re.M)[1]
    acme = FerryClient(local_stack.url, api_key)

    assert acme.get("/jobs").status == 200
    by_header = acme.get("/jobs", headers={"Authorization": "", "x-api-key": api_key})
    assert by_header.status == 200
    listed = admin(local_stack, "keys", "list", "--tenant", "acme")
    assert key_id in listed and "acme ERP" in listed and "active" in listed and api_key not in listed

    assert "Revoked" in admin(local_stack, "keys", "revoke", key_id)
    time.sleep(API_KEY_CACHE_SECONDS + 0.5)
    refused = acme.get("/jobs")
    assert refused.status == 401
    assert refused.json()["detail"] == "The API key is not valid."
    assert "revoked" in admin(local_stack, "keys", "list", "--tenant", "acme")


def test_a_key_of_one_tenant_sees_only_that_tenants_jobs(local_stack):
    printed = admin(local_stack, "keys", "create", "--tenant", "globex", "--name", "globex CRM")
    globex = FerryClient(local_stack.url, re.search(r"^\s+(fy_\S+)$", printed, re.M)[1])
    job_id = globex.import_rows("Customers", "CreateOrUpdate", [{"vendorId": "G1", "name": "Globex"}])
    assert globex.get(f"/jobs/{job_id}").status == 200
    stranger = FerryClient(local_stack.url, local_stack.keys["tenant-a"])
    assert stranger.get(f"/jobs/{job_id}").status == 404


def test_no_key_or_an_unknown_key_is_a_401_problem_before_the_body_is_read(local_stack):
    for key in (None, "fy_made-up"):
        answer = FerryClient(local_stack.url, key).post("/import", raw=b'{"dataType": "Customers", "data": [1,')
        assert answer.status == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == 401


def test_the_api_description_is_public(local_stack):
    anonymous = FerryClient(local_stack.url, None)
    assert anonymous.get("/openapi.json").status == 200
    assert anonymous.get("/docs").status == 200
    assert anonymous.get("/jobs").status == 401


def test_a_bad_tenant_name_is_refused_by_the_command(local_stack):
    done = subprocess.run(
        [sys.executable, "-m", "ferry_admin", "--port", str(local_stack.port), "keys", "create", "--tenant", "a b", "--name", "x"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0 and "--tenant" in done.stderr
