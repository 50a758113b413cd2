"""Jobs in DynamoDB. Every status change is a conditional write, so two writers never both win.

Layout (one table, see template.yaml JobsTable):
  pk = "T#<tenant>"  sk = "JOB#<job id>"      the job
  pk = "T#<tenant>"  sk = "IDEM#<key>"        an Idempotency-Key record (ferry.aws.idempotency)
  status_pk = "T#<tenant>#S#<status>"          GSI by_status: a tenant's jobs in one status
  active = "A" while the job has not ended,       GSI by_activity (sparse): every tenant's jobs the sweeper looks after
           "U" once ended until its Job Ended is known to be published
  announced_at                                    when a caller took on publishing the end (a claim that lapses)
Job ids are ULIDs, so sk order is creation order and created_after/before are key ranges.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ferry.core.clock import Clock, parse_rfc3339, rfc3339
from ferry.core.cursors import cursor_of, position_of
from ferry.core.errors import InvalidTransition, JobNotFound
from ferry.core.ids import ULID, ulid_ceiling, ulid_floor
from ferry.jobs.model import (
    ENDED,
    Attachment,
    ChunkCounts,
    Job,
    JobError,
    JobStatus,
    sources_of,
)

STATUS_INDEX = "by_status"
ACTIVITY_INDEX = "by_activity"
ACTIVE = "A"
UNANNOUNCED = "U"


def tenant_pk(tenant: str) -> str:
    return f"T#{tenant}"


def _status_pk(tenant: str, status: JobStatus) -> str:
    return f"{tenant_pk(tenant)}#S#{status.value}"


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the domain wants int/float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _dynamo(value: Any) -> Any:
    """The reverse of _plain: DynamoDB refuses Python floats."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo(v) for v in value]
    return value


def _assignments(values: dict[str, Any]) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """`SET` clauses with placeholder names and values, safe for any attribute name."""
    names = {f"#f{i}": name for i, name in enumerate(values)}
    expr_values = {f":v{i}": _dynamo(v) for i, v in enumerate(values.values())}
    return [f"#f{i} = :v{i}" for i in range(len(values))], names, expr_values


def _when(text: str | None) -> datetime | None:
    return parse_rfc3339(text) if text else None


def job_from_item(item: dict[str, Any]) -> Job:
    item = _plain(item)
    attachment = item.get("attachment")
    return Job(
        id=item["id"],
        tenant=item["tenant"],
        type=item["type"],
        status=JobStatus(item["status"]),
        args=item.get("args") or {},
        created_at=parse_rfc3339(item["created_at"]),
        updated_at=parse_rfc3339(item["updated_at"]),
        attachment=Attachment(**attachment) if attachment else None,
        input_key=item.get("input_key"),
        total=item.get("total"),
        chunks={k: ChunkCounts(**v) for k, v in (item.get("chunks") or {}).items()},
        chunk_failures=item.get("chunk_failures") or {},
        chunk_count=item.get("chunk_count"),
        running_output=item.get("running_output"),
        output=item.get("output"),
        errors=[JobError(**e) for e in item.get("errors") or []],
        error_count=item.get("error_count", 0),
        errors_key=item.get("errors_key"),
        plan_note=item.get("plan_note"),
        result_key=item.get("result_key"),
        started_at=_when(item.get("started_at")),
        terminated_at=_when(item.get("terminated_at")),
        execution_name=item.get("execution_name"),
        details=item.get("details") or {},
    )


def _item_from_job(job: Job) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": tenant_pk(job.tenant),
        "sk": f"JOB#{job.id}",
        "status_pk": _status_pk(job.tenant, job.status),
        "id": job.id,
        "tenant": job.tenant,
        "type": job.type,
        "status": job.status.value,
        "args": job.args,
        "chunks": {},
        "chunk_failures": {},
        "details": {},
        "created_at": rfc3339(job.created_at),
        "updated_at": rfc3339(job.updated_at),
    }
    item["active"] = UNANNOUNCED if job.status.ended else ACTIVE
    if job.attachment:
        item["attachment"] = {k: v for k, v in vars(job.attachment).items() if v is not None}
    if job.input_key:
        item["input_key"] = job.input_key
    if job.execution_name:
        item["execution_name"] = job.execution_name
    return _dynamo(item)


class JobsTable:
    """The JobStore port on DynamoDB."""

    def __init__(self, table: Any, clock: Clock, retention_days: int) -> None:
        self._table = table
        self._clock = clock
        self._retention = timedelta(days=retention_days)

    def _key(self, tenant: str, job_id: str) -> dict[str, str]:
        return {"pk": tenant_pk(tenant), "sk": f"JOB#{job_id}"}

    def create(self, job: Job) -> None:
        self._table.put_item(Item=_item_from_job(job), ConditionExpression=Attr("pk").not_exists())

    def get(self, tenant: str, job_id: str) -> Job:
        item = self._table.get_item(Key=self._key(tenant, job_id), ConsistentRead=True).get("Item")
        if item is None:
            raise JobNotFound(job_id)
        return job_from_item(item)

    def transition(self, tenant: str, job_id: str, to: JobStatus, **fields: Any) -> Job:
        """Move the job to `to` if its current status allows it; set `fields` in the same write.

        Raises InvalidTransition (with the current status) when another writer got there first.
        """
        now = self._clock.now()
        values: dict[str, Any] = {
            "status": to.value,
            "status_pk": _status_pk(tenant, to),
            "updated_at": rfc3339(now),
            **fields,
        }
        if to is JobStatus.RUNNING:
            values["started_at"] = rfc3339(now)
        if to in ENDED:
            values["terminated_at"] = rfc3339(now)
            values["running_output"] = None
            values["expires_at"] = int((now + self._retention).timestamp())
            # It stays in the sparse by_activity index the sweeper reads until its end is announced.
            values["active"] = UNANNOUNCED
        sets, names, expr_values = _assignments(values)
        allowed = sorted(s.value for s in sources_of(to))
        for i, status in enumerate(allowed):
            expr_values[f":from{i}"] = status
        names["#status"] = "status"
        try:
            result = self._table.update_item(
                Key=self._key(tenant, job_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(pk) AND #status IN ("
                + ", ".join(f":from{i}" for i in range(len(allowed)))
                + ")",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expr_values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self._table.get_item(Key=self._key(tenant, job_id), ConsistentRead=True).get("Item")
            raise InvalidTransition(job_id, to.value, current["status"] if current else None) from exc
        return job_from_item(result["Attributes"])

    def set_input(self, tenant: str, job_id: str, input_key: str, attachment: Attachment) -> None:
        """Where the job's input now is, and what is known of it (a fetched URL's size and digest)."""
        values = {"input_key": input_key, "attachment": {k: v for k, v in vars(attachment).items() if v is not None}}
        self._record(tenant, job_id, values, None)

    def claim_announcement(self, tenant: str, job_id: str, held_for: timedelta) -> bool:
        # announced_at is the claim's time; `active` stays "U" until the publish is confirmed, so a confirmed end
        # (no `active`) is never claimed again and a lapsed claim (rfc3339 strings sort as times) is taken over.
        now = self._clock.now()
        return self._claimed(
            tenant,
            job_id,
            "SET announced_at = :now, active = :unannounced",
            "attribute_not_exists(announced_at) OR (attribute_exists(active) AND announced_at < :lapsed)",
            {":now": rfc3339(now), ":lapsed": rfc3339(now - held_for), ":unannounced": UNANNOUNCED},
        )

    def release_announcement(self, tenant: str, job_id: str) -> None:
        self._update_if_there(tenant, job_id, "REMOVE announced_at")

    def confirm_announcement(self, tenant: str, job_id: str) -> None:
        self._update_if_there(tenant, job_id, "REMOVE active")

    def claim_notice(self, tenant: str, job_id: str) -> bool:
        return self._claimed(tenant, job_id, "SET noticed_at = :now", "attribute_not_exists(noticed_at)", {":now": rfc3339(self._clock.now())})

    def release_notice(self, tenant: str, job_id: str) -> None:
        self._update_if_there(tenant, job_id, "REMOVE noticed_at")

    def _claimed(self, tenant: str, job_id: str, expression: str, condition: str, values: dict[str, Any]) -> bool:
        """Whether the update was made: False when the job is not there or `condition` does not hold."""
        try:
            self._table.update_item(
                Key=self._key(tenant, job_id),
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(pk) AND ({condition})",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _update_if_there(self, tenant: str, job_id: str, expression: str) -> None:
        try:
            self._table.update_item(Key=self._key(tenant, job_id), UpdateExpression=expression, ConditionExpression="attribute_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def set_details(self, tenant: str, job_id: str, details: dict[str, Any]) -> None:
        """Add to what the kind records of the job's run, key by key."""
        for name, value in details.items():
            self._record(tenant, job_id, {}, None, ("details", name, value))

    def set_running_output(self, tenant: str, job_id: str, running_output: str) -> None:
        """What the job is doing now; kept only while the job has not ended."""
        self._record(tenant, job_id, {}, running_output, only_unended=True)

    def set_plan(self, tenant: str, job_id: str, total: int, chunk_count: int, running_output: str | None, note: str | None = None) -> None:
        """The job's size, once planned; `note` is what the plan found worth saying (unknown columns).

        `running_output` is the kind's own words for what it does now (None leaves it): a
        procedure's parts are no rows in chunks.
        """
        values: dict[str, Any] = {"total": total, "chunk_count": chunk_count}
        if note:
            values["plan_note"] = note
        self._record(tenant, job_id, values, running_output)

    def record_chunk(self, tenant: str, job_id: str, chunk: int, counts: ChunkCounts, running_output: str) -> None:
        """Write one chunk's counts (overwriting, so a retried chunk is counted once).

        Whatever the job's status: rows a chunk wrote are counted even when the job
        was cancelled or failed meanwhile, so the counts always equal what was written.
        """
        # `lost` only where true: the job item holds every chunk's counts and stays small.
        stored = {k: v for k, v in vars(counts).items() if k != "lost" or v}
        self._record(tenant, job_id, {}, running_output, ("chunks", str(chunk), stored))

    def record_chunk_failure(self, tenant: str, job_id: str, chunk: int, reason: str) -> None:
        """Note why an attempt of a chunk failed, for the job's final reason if the chunk never succeeds."""
        self._record(tenant, job_id, {}, None, ("chunk_failures", str(chunk), reason))

    def _record(
        self,
        tenant: str,
        job_id: str,
        values: dict[str, Any],
        running_output: str | None,
        entry: tuple[str, str, Any] | None = None,
        only_unended: bool = False,
    ) -> None:
        """Set facts about the job's work whatever its status; `running_output` only while it has not ended."""
        if running_output is not None:
            unended = [s.value for s in JobStatus if not s.ended]
            if self._update(tenant, job_id, {**values, "running_output": running_output}, entry, unended) or only_unended:
                return
        if not self._update(tenant, job_id, values, entry, None):
            raise JobNotFound(job_id)

    def _update(
        self, tenant: str, job_id: str, values: dict[str, Any], entry: tuple[str, str, Any] | None, statuses: list[str] | None
    ) -> bool:
        """Set `values` and one `entry` (map, key, value) of a map attribute if the job exists (in one of `statuses`)."""
        sets, names, expr_values = _assignments({**values, "updated_at": rfc3339(self._clock.now())})
        if entry is not None:
            names["#map"], names["#entry"] = entry[0], entry[1]
            expr_values[":entry"] = _dynamo(entry[2])
            sets.append("#map.#entry = :entry")
        condition = "attribute_exists(pk)"
        if statuses:
            names["#status"] = "status"
            expr_values.update({f":s{i}": status for i, status in enumerate(statuses)})
            condition += " AND #status IN (" + ", ".join(f":s{i}" for i in range(len(statuses))) + ")"
        try:
            self._table.update_item(
                Key=self._key(tenant, job_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expr_values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def unended(self, created_before: datetime) -> Iterator[Job]:
        """Every tenant's jobs that have not ended and were created before `created_before`, oldest first."""
        return self._by_activity(ACTIVE, created_before)

    def unannounced(self, created_before: datetime) -> Iterator[Job]:
        """Every tenant's jobs that ended, created before `created_before`, whose Job Ended is not known to be published."""
        return self._by_activity(UNANNOUNCED, created_before)

    def _by_activity(self, activity: str, created_before: datetime) -> Iterator[Job]:
        params: dict[str, Any] = {
            "IndexName": ACTIVITY_INDEX,
            "KeyConditionExpression": Key("active").eq(activity) & Key("sk").lt("JOB#" + ulid_floor(int(created_before.timestamp() * 1000))),
        }
        while True:
            answer = self._table.query(**params)
            yield from (job_from_item(item) for item in answer["Items"])
            if "LastEvaluatedKey" not in answer:
                return
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def list(
        self,
        tenant: str,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Job], str | None]:
        """One page of a tenant's jobs, newest first, and the cursor of the next page (None on the last)."""
        low = "JOB#" + (ulid_floor(int(created_after.timestamp() * 1000)) if created_after else "")
        high = "JOB#" + (ulid_ceiling(int(created_before.timestamp() * 1000)) if created_before else "~")
        if status is None:
            params: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(tenant_pk(tenant)) & Key("sk").between(low, high)}
        else:
            params = {
                "IndexName": STATUS_INDEX,
                "KeyConditionExpression": Key("status_pk").eq(_status_pk(tenant, status)) & Key("sk").between(low, high),
            }
        if job_type is not None:
            params["FilterExpression"] = Attr("type").eq(job_type)
        start_key = None
        if after := self._decode_cursor(cursor, tenant):
            if after < low:
                return [], None  # the cursor is past this range's end
            if after <= high:
                # The cursor is a job's sort key; the index's key is rebuilt for whichever query this is,
                # so a cursor followed with other filters continues after that job instead of failing.
                start_key = {"pk": tenant_pk(tenant), "sk": after}
                if status is not None:
                    start_key["status_pk"] = _status_pk(tenant, status)
        jobs: list[Job] = []
        # A filter is applied after the Limit, so keep reading until the page is full or the range ends.
        while True:
            if start_key:
                params["ExclusiveStartKey"] = start_key
            answer = self._table.query(ScanIndexForward=False, Limit=limit - len(jobs), **params)
            jobs.extend(job_from_item(item) for item in answer["Items"])
            start_key = answer.get("LastEvaluatedKey")
            if not start_key or len(jobs) >= limit:
                break
        return jobs, self._encode_cursor(tenant, start_key["sk"]) if start_key else None

    @staticmethod
    def _encode_cursor(tenant: str, sk: str) -> str:
        return cursor_of({"pk": tenant_pk(tenant), "sk": sk})

    @staticmethod
    def _decode_cursor(cursor: str | None, tenant: str) -> str | None:
        """The sort key of the last job of the previous page."""
        if not cursor:
            return None
        return str(position_of(cursor, lambda key: key.get("pk") == tenant_pk(tenant) and _a_job_sort_key(key.get("sk")))["sk"])


def _a_job_sort_key(value: Any) -> bool:
    # A cursor's sort key is a job's ("JOB#<ULID>"): any other (a forged one, 5,000 characters long) is refused
    # before DynamoDB sees it as an ExclusiveStartKey.
    return isinstance(value, str) and value.startswith("JOB#") and ULID.fullmatch(value.removeprefix("JOB#")) is not None
