"""The Geocoder in AWS: Amazon Location Service's Places API (geo-places Geocode).

The Places API needs no place index resource. Its results are kept (written into the
Accounts), which its terms allow only for requests that say IntendedUse=Storage.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

_QUERY_MAX = 200  # the API's limit on QueryText
_COUNTRY_CODE = re.compile(r"[A-Z]{2,3}")


class LocationGeocoder:
    def __init__(self, client: Any) -> None:
        self._client = client  # boto3.client("geo-places")

    def geocode(self, address: Mapping[str, str]) -> tuple[float, float] | None:
        parts = [address.get(name, "").strip() for name in ("street", "postalCode", "city", "country")]
        request: dict[str, Any] = {"QueryText": ", ".join(p for p in parts if p)[:_QUERY_MAX], "MaxResults": 1, "IntendedUse": "Storage"}
        country = address.get("country", "").strip().upper()
        if _COUNTRY_CODE.fullmatch(country):
            request["Filter"] = {"IncludeCountries": [country]}
        try:
            answer = self._client.geocode(**request)
        except ClientError as exc:
            # An address the service cannot read is one it cannot place; anything else is the service failing.
            if exc.response.get("Error", {}).get("Code") == "ValidationException":
                return None
            raise
        results = answer.get("ResultItems") or []
        if not results or "Position" not in results[0]:
            return None
        longitude, latitude = results[0]["Position"]
        return latitude, longitude
