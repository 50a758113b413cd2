"""Idempotency-Key records: the same key and body answer the first job; a different body is refused.

A record is claimed with a conditional put, so among concurrent requests with one key
exactly one creates the job; the others see it in progress (409) or done (same job).
Records live 24 hours (DynamoDB TTL deletes them later, so expiry is also checked on read).
A claim still in progress after CLAIM_LEASE belongs to a request that crashed: the next
request with the key takes it over, and learns the job id the crashed one meant to
create, so that a job it did create is answered instead of made twice.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from ferry.core.clock import Clock
from ferry.core.errors import FieldError, IdempotencyKeyInUse, IdempotencyKeyReused
from ferry.aws.jobs_table import tenant_pk
from ferry.jobs.ports import Claim

KEY_LIFETIME = timedelta(hours=24)
CLAIM_LEASE = timedelta(minutes=2)


class IdempotencyTable:
    """The IdempotencyStore port on the jobs table."""

    def __init__(self, table: Any, clock: Clock) -> None:
        self._table = table
        self._clock = clock

    def _key(self, tenant: str, key: str) -> dict[str, str]:
        return {"pk": tenant_pk(tenant), "sk": f"IDEM#{key}"}

    def claim(self, tenant: str, key: str, request_hash: str, job_id: str) -> Claim:
        """Claim the key for a request that will create `job_id`."""
        now = int(self._clock.now().timestamp())
        try:
            answer = self._table.put_item(
                Item={
                    **self._key(tenant, key),
                    "request_hash": request_hash,
                    "state": "in_progress",
                    "job_id": job_id,
                    "lease_until": now + int(CLAIM_LEASE.total_seconds()),
                    "expires_at": now + int(KEY_LIFETIME.total_seconds()),
                },
                # A crashed request's claim is taken over by the same request only: another body is refused (422) below,
                # never answered with what the crashed one created.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR (#state = :in_progress AND lease_until < :now AND request_hash = :hash)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":now": now, ":in_progress": "in_progress", ":hash": request_hash},
                ReturnValues="ALL_OLD",
            )
            old = answer.get("Attributes") or {}
            abandoned = old.get("job_id") if old.get("state") == "in_progress" and old.get("expires_at", 0) >= now else None
            return Claim(job_id=None, abandoned_job_id=abandoned)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        existing = self._table.get_item(Key=self._key(tenant, key), ConsistentRead=True).get("Item") or {}
        pointer = [FieldError("/headers/Idempotency-Key", "already used")]
        if existing.get("request_hash") != request_hash:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request in the last 24 hours.", pointer)
        if existing.get("state") != "done":
            raise IdempotencyKeyInUse("The first request with this Idempotency-Key is still being processed; retry shortly.", pointer)
        return Claim(job_id=existing["job_id"])

    def complete(self, tenant: str, key: str, job_id: str) -> None:
        self._table.update_item(
            Key=self._key(tenant, key),
            UpdateExpression="SET #state = :done, job_id = :job",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":done": "done", ":job": job_id},
        )

    def release(self, tenant: str, key: str) -> None:
        """Forget a claim whose request failed, so the client can retry with the same key."""
        self._table.delete_item(Key=self._key(tenant, key))
