"""The SavedItems port on the jobs table: `pk = T#<tenant>`, `sk = <KIND>#<id>`, the document in `body`."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from ferry.aws.jobs_table import tenant_pk
from ferry.core.errors import Conflict, NotFound, shown


class SavedItemsTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    @staticmethod
    def _key(tenant: str, kind: str, item_id: str) -> dict[str, str]:
        return {"pk": tenant_pk(tenant), "sk": f"{kind.upper()}#{item_id}"}

    def put(self, tenant: str, kind: str, item_id: str, body: dict[str, Any], *, new: bool, expires_in: int | None = None) -> None:
        # The body is stored as a JSON string: DynamoDB would turn its floats into Decimals and refuse empty keys.
        condition = "attribute_not_exists(pk)" if new else "attribute_exists(pk)"
        item: dict[str, Any] = {**self._key(tenant, kind, item_id), "body": json.dumps(body), "version": 1}
        if expires_in is not None:
            item["expires_at"] = int(time.time()) + expires_in  # the table's TTL attribute
        try:
            self._table.put_item(Item=item, ConditionExpression=condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            if new:
                raise Conflict(f"A {kind} {item_id!r} exists already.") from exc
            raise NotFound(f"No {kind} {shown(item_id)}.") from exc

    def update(self, tenant: str, kind: str, item_id: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any] | None:
        for _ in range(10):
            item = self._table.get_item(Key=self._key(tenant, kind, item_id), ConsistentRead=True).get("Item")
            if item is None:
                raise NotFound(f"No {kind} {shown(item_id)}.")
            body = change(json.loads(item["body"]))
            if body is None:
                return None
            version = int(item["version"])
            try:
                self._table.update_item(
                    Key=self._key(tenant, kind, item_id),
                    UpdateExpression="SET body = :body, version = :next",
                    ConditionExpression="version = :v",
                    ExpressionAttributeValues={":body": json.dumps(body), ":next": version + 1, ":v": version},
                )
                return body
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        raise Conflict(f"The {kind} {item_id!r} keeps changing; try again.")

    def get(self, tenant: str, kind: str, item_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=self._key(tenant, kind, item_id), ConsistentRead=True).get("Item")
        return json.loads(item["body"]) if item else None

    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(tenant_pk(tenant)) & Key("sk").begins_with(f"{kind.upper()}#")}
        found = []
        while True:
            page = self._table.query(**params)
            found += [json.loads(item["body"]) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete(self, tenant: str, kind: str, item_id: str) -> bool:
        answer = self._table.delete_item(Key=self._key(tenant, kind, item_id), ReturnValues="ALL_OLD")
        return "Attributes" in answer
