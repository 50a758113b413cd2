"""In-memory fakes of the engine's ports, for fast unit tests of the service, the lifecycle and the runners.

They keep the ports' promises that the domain relies on (conditional status changes,
counts whatever the status, missing files), in a few lines each; the real adapters
are tested against moto in tests/integration.
"""
from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from ferry.core.errors import Conflict, IdempotencyKeyInUse, IdempotencyKeyReused, InvalidTransition, JobNotFound, NotFound, shown
from ferry.core.ids import ulid_ceiling, ulid_floor
from ferry.jobs.model import ENDED, Attachment, ChunkCounts, Job, JobError, JobStatus, sources_of
from ferry.jobs.ports import Claim, FileMissing, LaunchFailed


class StillClock:
    """Time that moves only when told."""

    def __init__(self, moment: datetime | None = None) -> None:
        self.moment = moment or datetime(2026, 11, 22, 3, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class InMemoryJobs:
    def __init__(self, clock: StillClock) -> None:
        self._jobs: dict[tuple[str, str], Job] = {}
        self._announcement_claims: dict[tuple[str, str], datetime] = {}
        self._announced: set[tuple[str, str]] = set()
        self._noticed: set[tuple[str, str]] = set()
        self._clock = clock
        self._lock = threading.Lock()

    def create(self, job: Job) -> None:
        with self._lock:
            if (job.tenant, job.id) in self._jobs:
                raise InvalidTransition(job.id, job.status.value, self._jobs[(job.tenant, job.id)].status.value)
            self._jobs[(job.tenant, job.id)] = job

    def get(self, tenant: str, job_id: str) -> Job:
        if (tenant, job_id) not in self._jobs:
            raise JobNotFound(job_id)
        return self._jobs[(tenant, job_id)]

    def transition(self, tenant: str, job_id: str, to: JobStatus, **fields: Any) -> Job:
        with self._lock:
            job = self._jobs.get((tenant, job_id))
            if job is None or job.status not in sources_of(to):
                raise InvalidTransition(job_id, to.value, job.status.value if job else None)
            now = self._clock.now()
            changes: dict[str, Any] = {"status": to, "updated_at": now, **_fields(fields)}
            if to is JobStatus.RUNNING:
                changes["started_at"] = now
            if to in ENDED:
                changes |= {"terminated_at": now, "running_output": None}
            self._jobs[(tenant, job_id)] = replace(job, **changes)
            return self._jobs[(tenant, job_id)]

    def _update(self, tenant: str, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self.get(tenant, job_id)
            if "running_output" in changes and job.status.ended:
                del changes["running_output"]
            self._jobs[(tenant, job_id)] = replace(job, updated_at=self._clock.now(), **changes)

    def set_input(self, tenant: str, job_id: str, input_key: str, attachment: Attachment) -> None:
        self._update(tenant, job_id, input_key=input_key, attachment=attachment)

    def claim_announcement(self, tenant: str, job_id: str, held_for: timedelta) -> bool:
        key, now = (tenant, job_id), self._clock.now()
        with self._lock:
            claimed_at = self._announcement_claims.get(key)
            if key in self._announced or (claimed_at is not None and claimed_at >= now - held_for):
                return False
            self._announcement_claims[key] = now
            return True

    def release_announcement(self, tenant: str, job_id: str) -> None:
        with self._lock:
            self._announcement_claims.pop((tenant, job_id), None)

    def confirm_announcement(self, tenant: str, job_id: str) -> None:
        with self._lock:
            self._announced.add((tenant, job_id))

    def claim_notice(self, tenant: str, job_id: str) -> bool:
        with self._lock:
            if (tenant, job_id) not in self._jobs or (tenant, job_id) in self._noticed:
                return False
            self._noticed.add((tenant, job_id))
            return True

    def release_notice(self, tenant: str, job_id: str) -> None:
        with self._lock:
            self._noticed.discard((tenant, job_id))

    def set_details(self, tenant: str, job_id: str, details: dict[str, Any]) -> None:
        self._update(tenant, job_id, details={**self.get(tenant, job_id).details, **details})

    def set_running_output(self, tenant: str, job_id: str, running_output: str) -> None:
        self._update(tenant, job_id, running_output=running_output)

    def set_plan(self, tenant: str, job_id: str, total: int, chunk_count: int, running_output: str | None, note: str | None = None) -> None:
        shown = {} if running_output is None else {"running_output": running_output}
        self._update(tenant, job_id, total=total, chunk_count=chunk_count, plan_note=note, **shown)

    def record_chunk(self, tenant: str, job_id: str, chunk: int, counts: ChunkCounts, running_output: str) -> None:
        chunks = {**self.get(tenant, job_id).chunks, str(chunk): counts}
        self._update(tenant, job_id, chunks=chunks, running_output=running_output)

    def record_chunk_failure(self, tenant: str, job_id: str, chunk: int, reason: str) -> None:
        self._update(tenant, job_id, chunk_failures={**self.get(tenant, job_id).chunk_failures, str(chunk): reason})

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
        low = ulid_floor(int(created_after.timestamp() * 1000)) if created_after else ""
        high = ulid_ceiling(int(created_before.timestamp() * 1000)) if created_before else "~"
        found = sorted(
            (
                j
                for (t, _), j in self._jobs.items()
                if t == tenant
                and low <= j.id <= high
                and (status is None or j.status is status)
                and (job_type is None or j.type == job_type)
                and (cursor is None or j.id < cursor)
            ),
            key=lambda j: j.id,
            reverse=True,
        )
        page = found[:limit]
        return page, page[-1].id if len(found) > limit else None

    def unended(self, created_before: datetime) -> Iterable[Job]:
        return [j for j in self._jobs.values() if not j.status.ended and j.created_at < created_before]

    def unannounced(self, created_before: datetime) -> Iterable[Job]:
        return [j for key, j in self._jobs.items() if j.status.ended and key not in self._announced and j.created_at < created_before]


def _fields(fields: dict[str, Any]) -> dict[str, Any]:
    """What the DynamoDB adapter stores as dicts comes back here as the model's own types."""
    if "errors" in fields:
        fields = {**fields, "errors": [JobError(**e) for e in fields["errors"]]}
    return fields


class InMemoryIdempotency:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def claim(self, tenant: str, key: str, request_hash: str, job_id: str) -> Claim:
        with self._lock:
            existing = self.records.get((tenant, key))
            if existing is None:
                self.records[(tenant, key)] = {"hash": request_hash, "job_id": job_id, "done": False}
                return Claim(job_id=None)
        if existing["hash"] != request_hash:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
        if not existing["done"]:
            raise IdempotencyKeyInUse("The first request with this Idempotency-Key is still being processed.")
        return Claim(job_id=existing["job_id"])

    def complete(self, tenant: str, key: str, job_id: str) -> None:
        self.records[(tenant, key)] |= {"job_id": job_id, "done": True}

    def release(self, tenant: str, key: str) -> None:
        self.records.pop((tenant, key), None)


class InMemoryFiles:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.files[key] = (bytes(body), content_type)

    def put_stream(self, key: str, stream: BinaryIO, content_type: str = "application/octet-stream") -> None:
        self.put(key, stream.read(), content_type)

    def get(self, key: str) -> bytes:
        if key not in self.files:
            raise FileMissing(key)
        return self.files[key][0]

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self.get(key))

    def size(self, key: str) -> int | None:
        return len(self.files[key][0]) if key in self.files else None

    def download_url(self, key: str, filename: str, expires_seconds: int = 300) -> str:
        return f"https://files.test/{key}?download={filename}"

    def upload_url(self, key: str, content_type: str, expires_seconds: int) -> str:
        return f"https://files.test/{key}?upload"


class RecordingLauncher:
    """Launches nothing; remembers what it was asked to launch. `fail` makes the next launch raise."""

    def __init__(self) -> None:
        self.launched: list[Job] = []
        self.statuses: dict[str, str] = {}
        self.fail = False

    def launch(self, job: Job) -> None:
        if self.fail:
            raise LaunchFailed("EndpointConnectionError")
        self.launched.append(job)
        self.statuses[job.id] = "RUNNING"

    def status(self, job: Job) -> str | None:
        return self.statuses.get(job.id)


class InMemoryReferences:
    """The tenant's saved items a job may refer to, as (tenant, kind, id) triples."""

    def __init__(self, *items: tuple[str, str, str]) -> None:
        self.items = set(items)

    def get(self, tenant: str, kind: str, item_id: str) -> dict[str, Any] | None:
        return {"id": item_id} if (tenant, kind, item_id) in self.items else None


class InMemorySavedItems(InMemoryReferences):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: dict[tuple[str, str, str], dict[str, Any]] = {}

    def update(self, tenant: str, kind: str, item_id: str, change: Any) -> dict[str, Any] | None:
        key = (tenant, kind, item_id)
        if key not in self.bodies:
            raise NotFound(f"No {kind} {shown(item_id)}.")
        body = change(json.loads(json.dumps(self.bodies[key])))
        if body is not None:
            self.bodies[key] = json.loads(json.dumps(body))
        return body

    def put(self, tenant: str, kind: str, item_id: str, body: dict[str, Any], *, new: bool, expires_in: int | None = None) -> None:
        key = (tenant, kind, item_id)
        if new and key in self.bodies:
            raise Conflict(f"A {kind} {item_id!r} exists already.")
        if not new and key not in self.bodies:
            raise NotFound(f"No {kind} {shown(item_id)}.")
        self.bodies[key] = json.loads(json.dumps(body))
        self.items.add(key)

    def get(self, tenant: str, kind: str, item_id: str) -> dict[str, Any] | None:
        return self.bodies.get((tenant, kind, item_id))

    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]:
        return [body for (t, k, _), body in self.bodies.items() if (t, k) == (tenant, kind)]

    def delete(self, tenant: str, kind: str, item_id: str) -> bool:
        self.items.discard((tenant, kind, item_id))
        return self.bodies.pop((tenant, kind, item_id), None) is not None


class InMemorySecrets:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, str]] = {}

    def put(self, name: str, value: dict[str, str]) -> None:
        self.values[name] = dict(value)

    def get(self, name: str) -> dict[str, str]:
        return dict(self.values[name])

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


class InMemoryLeases:
    def __init__(self, clock: StillClock) -> None:
        self._clock = clock
        self.held: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._lock = threading.Lock()

    def acquire(self, tenant: str, lane: str, holder: str, seconds: int) -> str | None:
        with self._lock:
            current = self.held.get((tenant, lane))
            if current is not None and current[0] != holder and current[1] > self._clock.now():
                return current[0]
            self.held[(tenant, lane)] = (holder, self._clock.now() + timedelta(seconds=seconds))
            return None

    def renew(self, tenant: str, lane: str, holder: str, seconds: int) -> bool:
        with self._lock:
            current = self.held.get((tenant, lane))
            if current is None or current[0] != holder:
                return False
            self.held[(tenant, lane)] = (holder, self._clock.now() + timedelta(seconds=seconds))
            return True

    def release(self, tenant: str, lane: str, holder: str) -> None:
        with self._lock:
            if self.held.get((tenant, lane), ("",))[0] == holder:
                del self.held[(tenant, lane)]


class RecordingEvents:
    """Publishes nothing; remembers each `Job Ended`. `fail` makes the next publish raise."""

    def __init__(self) -> None:
        self.ended: list[dict[str, Any]] = []
        self.fail = False

    def job_ended(self, job: Job, view: dict[str, Any]) -> None:
        if self.fail:
            self.fail = False
            raise ConnectionError("EventBridge is unreachable")
        self.ended.append(view)


def resolve_unvetted(host: str, port: int) -> list[tuple[str, int]]:
    """A destination Resolver that trusts every address (the loopback servers of tests); the wiring's vets them."""
    import socket

    from ferry.destinations.port import DestinationFailed

    try:
        return [(info[4][0], info[4][1]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except OSError:
        raise DestinationFailed("dns", f"The host name {host} could not be resolved.") from None
