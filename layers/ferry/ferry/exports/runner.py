"""The steps of an export, one per state of statemachines/export.asl.json.

export (query the store in pages, write the CSV into a zip, keep the zip in the files
bucket) -> deliver (put it at the destination, under a temporary name renamed when
complete) -> finish (the final status; a cancelled export removes what it delivered).
A failure names its phase: query, write, zip, connect or upload; the reason is kept
in the job's details for the dialects (seed 001's `errors`). Start and fail are the
engine's. Every step may run twice, so each is idempotent: a re-run rewrites the same
result file and the destination's rename replaces the same name.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from ferry.core import observability
from ferry.core.clock import Clock, parse_rfc3339, rfc3339
from ferry.core.errors import InvalidTransition, NotFound
from ferry.datatypes.datatype import DataType
from ferry.datatypes.paths import field_paths
from ferry.datatypes.registry import named
from ferry.destinations.port import Destination, DestinationFailed
from ferry.exports import csv_zip
from ferry.exports.segments import Segments
from ferry.jobs import files
from ferry.jobs.lifecycle import Lifecycle
from ferry.jobs.model import MAX_MESSAGE_CHARS, ChunkCounts, Job, JobStatus, bounded
from ferry.jobs.ports import FileStore, JobStore
from ferry.store.port import Collection, EntityStore, Query, StoreUnavailable

PAGE_ROWS = 10_000
_SPOOL_BYTES = 64 * 1024 * 1024  # the zip stays in memory up to this, then goes to /tmp
# A destination's steps as the phases of an export: reaching it, or writing to it.
_DELIVERY_PHASE = {"dns": "connect", "connect": "connect", "host_key": "connect", "auth": "connect", "permission": "upload", "write": "upload"}


class ExportFailed(Exception):
    """An export that cannot go on; `phase` is query, write, zip, connect or upload."""

    def __init__(self, phase: str, reason: str) -> None:
        super().__init__(f"{phase}: {reason}")
        self.phase = phase
        self.reason = reason


def file_name(args: dict[str, Any], day: datetime) -> str:
    """`<prefix><Module>.zip`, or `<prefix><Module>_<yyyymmdd>.zip` when the date is in the name (seed 003)."""
    dated = f"_{day:%Y%m%d}" if args.get("dateInName", True) else ""
    return f"{args.get('prefix', '')}{args['dataType']}{dated}.zip"


class ExportRunner:
    def __init__(
        self,
        jobs: JobStore,
        files: FileStore,
        store: EntityStore,
        segments: Segments,
        destinations: Callable[[str, str], Destination],
        lifecycle: Lifecycle,
        clock: Clock,
    ) -> None:
        self._jobs = jobs
        self._files = files
        self._store = store
        self._segments = segments
        self._destinations = destinations  # (tenant, destination id) -> the destination, credentials read
        self._lifecycle = lifecycle
        self._clock = clock

    def export(self, tenant: str, job_id: str) -> bool:
        """Write the zip into the files bucket. Answers False when the job was cancelled meanwhile."""
        job = self._jobs.get(tenant, job_id)
        if job.status is not JobStatus.RUNNING:
            return False
        try:
            return self._export(job)
        except ExportFailed as exc:
            self._jobs.set_details(tenant, job_id, {"failure": {"phase": exc.phase, "reason": bounded(exc.reason, MAX_MESSAGE_CHARS)}})
            raise

    def _export(self, job: Job) -> bool:
        args = job.args
        data_type = named(args["dataType"])
        collection = Collection(job.tenant, data_type.name)
        query_filter = self._filter(job)
        paths = args.get("fields") or list(field_paths(data_type.model, lists_of_objects=True))
        started = time.time()
        try:
            total = min(self._store.count(collection, query_filter), args.get("limit") or float("inf"))
            widths = self._widths(collection, query_filter, data_type, paths) if args.get("multiValue") == "spread" else {}
        except StoreUnavailable:
            raise  # the state machine retries the step (a failover, a rotated password), as any other step's
        except Exception as exc:
            raise ExportFailed("query", f"{type(exc).__name__}: {exc}") from exc
        labels = {p: data_type.label(p) for p in paths} if args.get("headers") == "labels" else None
        columns = csv_zip.columns_for(paths, labels=labels, multi_value=args.get("multiValue", "join"), widths=widths)
        night = (args.get("schedule") or {}).get("night")
        # A scheduled run's file is dated by the night it exports; any other by the day it ran.
        name = file_name(args, datetime.fromisoformat(night) if night else job.started_at or self._clock.now())
        read_s = write_s = 0.0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            try:
                writer = csv_zip.CsvZipWriter(spool, name.removesuffix(".zip") + ".csv", columns, modified=self._clock.now())
            except Exception as exc:
                raise ExportFailed("zip", f"{type(exc).__name__}: {exc}") from exc
            done = 0
            limit = args.get("limit")
            for page, read in self._pages(collection, query_filter, writer.paths):
                if limit is not None:
                    page = page[: limit - done]
                read_s += read
                begun = time.time()
                try:
                    writer.write(page)
                except Exception as exc:
                    raise ExportFailed("write", f"{type(exc).__name__}: {exc}") from exc
                write_s += time.time() - begun
                done += len(page)
                # Records written meanwhile are exported too: never more done than there are.
                self._jobs.record_chunk(job.tenant, job.id, 0, ChunkCounts(done, done, 0), f"rows {done} of {max(total, done)}")
                if self._jobs.get(job.tenant, job.id).status is not JobStatus.RUNNING:
                    writer.close()  # cancelled: the zip is ended in the spool, which goes unused
                    return False
                if limit is not None and done >= limit:
                    break
            try:
                written = writer.close()
            except Exception as exc:
                raise ExportFailed("zip", f"{type(exc).__name__}: {exc}") from exc
            spool.seek(0)
            self._files.put_stream(files.result_key(job, name), spool, "application/zip")
        if done == 0:
            self._jobs.record_chunk(job.tenant, job.id, 0, ChunkCounts(0, 0, 0), "no record to export")
        self._jobs.set_plan(job.tenant, job.id, total=done, chunk_count=1, running_output=None)  # "rows N of N" stays
        self._jobs.set_details(
            job.tenant,
            job.id,
            {
                "file": name,
                "result_key": files.result_key(job, name),
                "rows": written.rows,
                "csv_bytes": written.csv_bytes,
                "zip_bytes": written.zip_bytes,
                "timings": {"started_ms": int(started * 1000), "read_ms": int(read_s * 1000), "write_ms": int(write_s * 1000)},
            },
        )
        observability.export_written(job, written.rows, written.zip_bytes, int((time.time() - started) * 1000))
        return True

    def _filter(self, job: Job) -> dict[str, Any]:
        """The args' filter, its segments' and changedSince's, all of them at once."""
        args = job.args
        parts = [args["filter"]] if args.get("filter") else []
        for segment_id in args.get("segments", []):
            try:
                parts.append(self._segments.get(job.tenant, segment_id).filter)
            except NotFound as exc:  # deleted since; a throttled read is the worker's to retry (AwsBusy)
                raise ExportFailed("query", f"segment {segment_id!r}: {exc}") from exc
        if args.get("changedSince"):
            parts.append({"_updated_at": {"$gte": rfc3339(parse_rfc3339(args["changedSince"]))}})
        if args.get("changedBefore"):
            # A scheduled run stops at its as-of time: what changes from then on is the next run's, so none is missed or sent twice.
            parts.append({"_updated_at": {"$lt": rfc3339(parse_rfc3339(args["changedBefore"]))}})
        return {"$and": parts} if len(parts) > 1 else (parts[0] if parts else {})

    def _pages(self, collection: Collection, query_filter: dict[str, Any], paths: list[str]) -> Iterator[tuple[list[list[Any]], float]]:
        """The documents' values at `paths`, a page at a time, with the seconds each page took to read."""
        after = None
        while True:
            begun = time.time()
            try:
                page = self._store.values(collection, Query(filter=query_filter, fields=paths, limit=PAGE_ROWS, after=after))
            except StoreUnavailable:
                raise  # retried, as above
            except Exception as exc:
                raise ExportFailed("query", f"{type(exc).__name__}: {exc}") from exc
            if page.rows:
                yield page.rows, time.time() - begun
            if page.next_after is None:
                return
            after = page.next_after

    def _widths(self, collection: Collection, query_filter: dict[str, Any], data_type: DataType, paths: list[str]) -> dict[str, int]:
        """The most items each list field holds: a spread field gets that many columns."""
        lists = [p for p in paths if field_paths(data_type.model, lists_of_objects=True).get(p) == "array"]
        widths = dict.fromkeys(lists, 0)
        if not lists:
            return widths
        for page, _ in self._pages(collection, query_filter, lists):
            for row in page:
                for path, value in zip(lists, row):
                    widths[path] = max(widths[path], len(value) if isinstance(value, list) else 0)
        return widths

    def deliver(self, tenant: str, job_id: str) -> bool:
        """Put the zip at the destination, if the export names one. Answers False when there is nothing to do."""
        job = self._jobs.get(tenant, job_id)
        destination_id = job.args.get("destinationId")
        if destination_id is None or job.status is not JobStatus.RUNNING:
            return False
        name, begun = job.details["file"], time.time()
        try:
            destination = self._destinations(tenant, destination_id)
            with self._files.open(job.details["result_key"]) as stream:
                delivery = destination.put(name, stream)
        except DestinationFailed as exc:
            phase = _DELIVERY_PHASE.get(exc.step, "upload")
            self._jobs.set_details(tenant, job_id, {"failure": {"phase": phase, "step": exc.step, "reason": bounded(exc.reason, MAX_MESSAGE_CHARS)}})
            raise ExportFailed(phase, f"{exc.step}: {exc.reason}") from exc
        timings = {**job.details.get("timings", {}), "upload_ms": int((time.time() - begun) * 1000)}
        # The version is what a cancel checks before it removes the file: by then another export may have written that name.
        self._jobs.set_details(tenant, job_id, {"delivered": delivery.location, "delivered_version": delivery.version, "timings": timings})
        return True

    def finish(self, tenant: str, job_id: str) -> JobStatus:
        job = self._jobs.get(tenant, job_id)
        if job.status.ended:
            return job.status
        if job.status is JobStatus.CANCELLING:
            return self._cancel(job)
        details = job.details
        where = details.get("delivered") or "the files bucket"
        output = f"{details.get('rows', 0)} {job.args['dataType']} records exported as {details.get('file')} to {where}."
        try:
            self._jobs.transition(tenant, job_id, JobStatus.FINISHED, output=output, result_key=details.get("result_key"))
        except InvalidTransition as exc:
            if exc.current != JobStatus.CANCELLING.value:
                raise
            return self._cancel(self._jobs.get(tenant, job_id))
        return JobStatus.FINISHED

    def _cancel(self, job: Job) -> JobStatus:
        """A cancelled export removes the file it delivered, unless another export of the same name has written over it since."""
        name = job.details.get("file")
        if job.details.get("delivered"):
            destination = self._destinations(job.tenant, job.args["destinationId"])
            if not destination.remove(name, job.details.get("delivered_version", "")):
                output = f"Cancelled: {name} at the destination was left as it is: it is not, or not known to be, the file this job delivered."
                return self._lifecycle.end_cancelled(job, output)
        return self._lifecycle.end_cancelled(job, "Cancelled: no file was left at the destination.")

    def fail(self, tenant: str, job_id: str, step: str, reason: str) -> JobStatus:
        job = self._jobs.get(tenant, job_id)
        if job.status is JobStatus.CANCELLING:
            return self._cancel(job)
        failure = job.details.get("failure")
        if failure:
            reason = f"the {failure['phase']} phase failed: {failure['reason']}"
        return self._lifecycle.fail(tenant, job_id, step, reason)

