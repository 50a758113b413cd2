"""Demo data for `make run`: a small Customers import per tenant, sent through the real API."""
from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from ferry_local.demo_crm import demo_crm_rows
from ferry_local.demo_erp import build_demo_erp

DEMO_CUSTOMERS = [
    {
        "vendorId": f"DEMO-{n:03d}",
        "name": name,
        "taxNumber": f"{123456780 + n}",
        "location": {
            "countryId": "UKR",
            "addressLine": address,
            "geoCoordinate": {"latitude": lat, "longitude": lon},
            "settlement": "Kyiv",
        },
        "tradeNetworkId": None,
    }
    for n, (name, address, lat, lon) in enumerate(
        [
            ("OOO Svetlyachok", "vul. Dehtiarivska 28", 50.462504, 30.469118),
            ("OOO Svetlyachok 2", "vul. Dehtiarivska 25", 50.462524, 30.469108),
            ("Kyiv Market", "vul. Khreshchatyk 1", 50.4501, 30.5234),
        ],
        start=1,
    )
]


DEMO_SFTP_USER, DEMO_SFTP_PASSWORD = "ferry", "ferry-demo-sftp"


def _post(stack: Any, key: str, path: str, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(f"{stack.url}{path}", data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def seed_demo_data(stack: Any, sftp: Any) -> str:
    """Posts the demo import and registers the loopback SFTP server as a destination and an export profile, for every tenant."""
    started = []
    erp_url = build_demo_erp(stack.state_dir / "erp.sqlite3")
    for tenant, key in stack.keys.items():
        job = _post(stack, key, "/import", {"dataType": "Customers", "actionType": "CreateOrUpdate", "data": DEMO_CUSTOMERS}, "demo-seed")
        local_sftp = {
            "name": "local SFTP",
            "type": "sftp",
            "host": "localhost",
            "port": sftp.port,
            "username": DEMO_SFTP_USER,
            "password": DEMO_SFTP_PASSWORD,
            "host_key_fingerprint": sftp.host_key_fingerprint,
            "folder": "/exports",
        }
        destination = _post(stack, key, "/destinations", local_sftp)
        # The same server as seed 003's export profile (the plan counts profiles, not seed 001's destinations).
        profile = _post(stack, key, "/export-profiles", {**local_sftp, "name": "local SFTP (nightly)"})
        for data_type, rows in demo_crm_rows().items():
            # Seed 003's areas, for the automatic CSV export: an import job of each, as a client would send it.
            attachment = {"name": f"{data_type}.json", "mime_type": "application/json", "file": base64.b64encode(json.dumps(rows).encode()).decode()}
            _post(stack, key, "/jobs", {"type": "import_json", "args": {"dataType": data_type, "actionType": "CreateOrUpdate"}, "attachment": attachment}, f"demo-{data_type}")
        # The demo ERP is every demo tenant's, its URL kept where an operator would keep it: in Secrets Manager.
        stack.put_secret(f"{tenant}/erp", {"url": erp_url})
        started.append(f"{tenant}: import {job['id']}, SFTP destination {destination['id']}, export profile {profile['id']}")
    return f"{len(DEMO_CUSTOMERS)} Customers and seed 003's CRM areas per tenant ({'; '.join(started)})"
