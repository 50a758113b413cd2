"""The export-jobs dialect of seed 001 (Adobe Experience Platform): `/export/jobs`, the seed's fields that mean something here."""
from __future__ import annotations

from typing import Any

from ferry.jobs.model import Job, JobStatus

STATUS = {
    JobStatus.PENDING: "NEW",
    JobStatus.RUNNING: "PROCESSING",
    JobStatus.CANCELLING: "PROCESSING",
    JobStatus.FINISHED: "SUCCEEDED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELLED: "CANCELLED",
}
# The seed's status filter -> the jobs' statuses.
STATUSES_OF = {seed: [s for s, name in STATUS.items() if name == seed] for seed in dict.fromkeys(STATUS.values())}


def _ms(moment: Any) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def _span(start_ms: int | None, end_ms: int | None) -> dict[str, int] | None:
    if start_ms is None or end_ms is None:
        return None
    return {"startTimeInMs": start_ms, "endTimeInMs": end_ms, "totalTimeInMs": end_ms - start_ms}


def _metrics(job: Job) -> dict[str, Any]:
    timings = job.details.get("timings", {})
    started = timings.get("started_ms")
    read_end = started + timings["read_ms"] if started is not None and "read_ms" in timings else None
    write_end = read_end + timings["write_ms"] if read_end is not None and "write_ms" in timings else None
    metrics = {
        "totalTime": _span(_ms(job.started_at), _ms(job.terminated_at)),
        "profileExportTime": _span(started, read_end),  # reading the records from the store
        "writeTime": _span(read_end, write_end),  # writing the CSV and the zip
    }
    return {name: span for name, span in metrics.items() if span is not None}


def export_job(job: Job) -> dict[str, Any]:
    args = job.args
    failure = job.details.get("failure")
    errors = [{"code": failure["phase"], "msg": failure["reason"]}] if failure else []
    if job.status is JobStatus.FAILED and not errors:
        errors = [{"code": "failed", "msg": job.output or "The export failed."}]
    destination = {"datasetId": args["destinationId"]} if args.get("destinationId") else {}
    if job.details.get("delivered"):
        destination["location"] = job.details["delivered"]
    view: dict[str, Any] = {
        "id": job.id,
        "jobType": "BATCH",
        "destination": destination,
        "fields": ",".join(args.get("fields", [])),
        "schema": {"name": args["dataType"]},
        "status": STATUS[job.status],
        "filter": {"segments": [{"segmentId": s} for s in args.get("segments", [])]},
        "errors": errors,
        "metrics": _metrics(job),
        "creationTime": _ms(job.created_at),
        "updateTime": _ms(job.updated_at),
        "requestId": job.id,
    }
    if args.get("changedSince"):
        view["filter"]["fromIngestTimestamp"] = args["changedSince"]
    if job.details.get("file"):
        view["file"] = {"name": job.details["file"], "rows": job.details.get("rows"), "bytes": job.details.get("zip_bytes"), "link": f"/jobs/{job.id}/result"}
    return view
