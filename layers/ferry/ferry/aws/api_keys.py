"""The ApiKeyStore port on DynamoDB: one item per key, keyed by the key's SHA-256 hash, so a table dump leaks no key."""
from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr

from ferry.core.errors import Unauthorized
from ferry.tenants.api_keys import SEND_A_KEY, ApiKey, key_hash


class ApiKeysTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    def tenant_for(self, api_key: str | None) -> str:
        if not api_key:
            raise Unauthorized(SEND_A_KEY)
        item = self._table.get_item(Key={"key_hash": key_hash(api_key)}, ConsistentRead=True).get("Item")
        if item is None or item.get("revoked_at"):
            raise Unauthorized("The API key is not valid.")
        return str(item["tenant"])

    def add(self, api_key: str, key: ApiKey) -> None:
        item = {"key_hash": key_hash(api_key), "key_id": key.key_id, "tenant": key.tenant, "name": key.name, "created_at": key.created_at}
        self._table.put_item(Item=item)

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        keys = [_key(item) for item in self._scan(Attr("tenant").eq(tenant) if tenant else None)]
        return sorted(keys, key=lambda k: (k.tenant, k.created_at, k.key_id))

    def revoke(self, key_id: str, now: str) -> ApiKey:
        found = self._scan(Attr("key_id").eq(key_id))
        if not found:
            raise KeyError(key_id)
        # A key revoked twice keeps its first revocation time.
        answer = self._table.update_item(
            Key={"key_hash": found[0]["key_hash"]},
            UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
            ExpressionAttributeValues={":now": now},
            ReturnValues="ALL_NEW",
        )
        return _key(answer["Attributes"])

    def _scan(self, condition: Any) -> list[dict[str, Any]]:
        # The operator's commands read a small table: a scan, never on a request's path.
        params: dict[str, Any] = {} if condition is None else {"FilterExpression": condition}
        items: list[dict[str, Any]] = []
        while True:
            page = self._table.scan(**params)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _key(item: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=str(item.get("key_id", "")),
        tenant=str(item["tenant"]),
        name=str(item.get("name", "")),
        created_at=str(item.get("created_at", "")),
        revoked_at=item.get("revoked_at"),
    )
