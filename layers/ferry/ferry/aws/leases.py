"""The Leases port on the jobs table: `pk = T#<tenant>`, `sk = LEASE#<lane>`, holder and expiry; conditional writes only."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from ferry.aws.jobs_table import tenant_pk
from ferry.core.clock import Clock


class LeasesTable:
    def __init__(self, table: Any, clock: Clock) -> None:
        self._table = table
        self._clock = clock

    @staticmethod
    def _key(tenant: str, lane: str) -> dict[str, str]:
        return {"pk": tenant_pk(tenant), "sk": f"LEASE#{lane}"}

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    def acquire(self, tenant: str, lane: str, holder: str, seconds: int) -> str | None:
        now = self._now()
        try:
            # Free, expired (its holder crashed), or already ours (a retried step).
            self._table.put_item(
                Item={**self._key(tenant, lane), "holder": holder, "lease_until": now + seconds, "expires_at": now + seconds + int(timedelta(days=1).total_seconds())},
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now OR holder = :holder",
                ExpressionAttributeValues={":now": now, ":holder": holder},
            )
            return None
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        current = self._table.get_item(Key=self._key(tenant, lane), ConsistentRead=True).get("Item") or {}
        return str(current.get("holder", "")) or "unknown"

    def renew(self, tenant: str, lane: str, holder: str, seconds: int) -> bool:
        try:
            self._table.update_item(
                Key=self._key(tenant, lane),
                UpdateExpression="SET lease_until = :until",
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={":until": self._now() + seconds, ":holder": holder},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def release(self, tenant: str, lane: str, holder: str) -> None:
        try:
            self._table.delete_item(Key=self._key(tenant, lane), ConditionExpression="holder = :holder", ExpressionAttributeValues={":holder": holder})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise  # someone else holds it now: nothing of ours to release
