"""Rows shaped like seed 004's examples."""
from __future__ import annotations

from typing import Any


def customer(n: int, **changes: Any) -> dict[str, Any]:
    row = {
        "vendorId": f"C{n:07d}",
        "name": f"OOO Svetlyachok {n}",
        "taxNumber": f"{100000000 + n}",
        "location": {
            "countryId": "UKR",
            "provinceId": "E5A6AAE5-7BAC-4C94-92E8-D07D84C1F18E",
            "addressLine": f"vul. Dehtiarivska {n}",
            "geoCoordinate": {"latitude": 50.462504, "longitude": 30.469118},
            "settlement": "Kyiv",
        },
        "tradeNetworkId": None,
        "officeId": "FAD3D784-6A79-4AF8-BF66-DB214FADEF11",
    }
    row.update(changes)
    return row
