"""The ApiKeyStore port on DynamoDB: API keys -> tenants. Keys are stored only as SHA-256 hashes, so a table dump leaks no key."""
from __future__ import annotations

import hashlib
from typing import Any

from ferry.core.errors import Unauthorized


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class ApiKeysTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    def tenant_for(self, api_key: str | None) -> str:
        if not api_key:
            raise Unauthorized("Send an API key: 'Authorization: Bearer <key>' or 'x-api-key: <key>'.")
        item = self._table.get_item(Key={"key_hash": key_hash(api_key)}).get("Item")
        if item is None or item.get("disabled"):
            raise Unauthorized("The API key is not valid.")
        return str(item["tenant"])

    def register(self, tenant: str, api_key: str, name: str) -> None:
        self._table.put_item(Item={"key_hash": key_hash(api_key), "tenant": tenant, "name": name})
