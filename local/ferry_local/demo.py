"""Demo data for `make run`: a small Customers import per tenant, sent through the real API."""
from __future__ import annotations

import json
import urllib.request
from typing import Any

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


def seed_demo_data(stack: Any) -> str:
    """Posts the demo import for every tenant; answers a line saying what was started."""
    started = []
    for tenant, key in stack.keys.items():
        body = json.dumps({"dataType": "Customers", "actionType": "CreateOrUpdate", "data": DEMO_CUSTOMERS}).encode()
        request = urllib.request.Request(
            f"{stack.url}/import",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": "demo-seed"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            started.append(f"{tenant}: import {json.load(answer)['id']}")
    return f"{len(DEMO_CUSTOMERS)} Customers per tenant ({'; '.join(started)})"
