"""The one place logging and metrics are set up (Powertools; configured by POWERTOOLS_* variables).

What an operator is told about jobs is said here, whoever does the work: at INFO each
job's life (submitted, started, each chunk, ended with its counts and duration), at
WARNING each failure with its step and reason; every line carries `tenant`, `job_id`
and `kind` as keys. Never a secret, a request body or a row's contents: counts,
durations, statuses and the reasons a job also shows its user.

Metrics (namespace POWERTOOLS_METRICS_NAMESPACE, dimension `kind`): RowsImported and
RowsRejected (import kinds), RowsExported (export kinds), JobsFailed, JobDuration and
ChunkDuration (milliseconds). A job's metrics are counted once, when its end is
announced (ferry.jobs.lifecycle.announce), so Step Functions' retries never count rows
twice. Each is flushed at once as its own EMF line: one invocation of the sweeper ends
jobs of several kinds, and a dimension holds for a whole flush.

Traces are Lambda's own active tracing (the template's `Tracing: Active`): each
invocation's segment, with its init and duration. There is no Powertools Tracer: it
imports the X-Ray SDK (~90 ms of the API's cold start, even with tracing off) and the
SDK brings a second botocore into the layer next to the runtime's own.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

if TYPE_CHECKING:
    from ferry.jobs.model import ChunkCounts, Job

logger = Logger()
metrics = Metrics()

# Most requests add no metric (a read, a list); Powertools warns about each of them otherwise.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# The parts of an error's text that quote the data it failed on (pymongo's BulkWriteError quotes the documents,
# SQLAlchemy the statement and its parameters): a log line stops before them.
_QUOTING_DATA = (", full error:", "[SQL:", "[parameters:")

_Reported = TypeVar("_Reported", bound=Callable[..., None])


def _never_fails(report: _Reported) -> _Reported:
    """Telling operators must never fail the work it tells of: a report that cannot be made is dropped, noted once."""

    @functools.wraps(report)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            report(*args, **kwargs)
        except Exception as exc:
            try:
                logger.error("a job report could not be made", extra={"report": report.__name__, "error": type(exc).__name__})
            except Exception:
                pass

    return guarded  # type: ignore[return-value]


def _loggable(reason: str) -> str:
    cut = min((i for i in (reason.find(marker) for marker in _QUOTING_DATA) if i >= 0), default=len(reason))
    return reason[:cut].rstrip(" ,\n")


# What each family of job kinds moves, as metric names: (succeeded rows, failed rows).
_ROW_METRICS = {"import": ("RowsImported", "RowsRejected"), "export": ("RowsExported", None)}


def _keys(job: Job) -> dict[str, Any]:
    return {"tenant": job.tenant, "job_id": job.id, "kind": job.type}


@_never_fails
def job_submitted(job: Job) -> None:
    attachment = job.attachment
    logger.info("job submitted", extra=_keys(job) | {"attachment_bytes": attachment.size if attachment else None})


@_never_fails
def job_started(job: Job) -> None:
    logger.info("job started", extra=_keys(job) | {"queued_ms": job.queued_ms})


@_never_fails
def chunk_done(job: Job, chunk: int, counts: ChunkCounts, duration_ms: int) -> None:
    logger.info(
        "chunk done",
        extra=_keys(job) | {"chunk": chunk, "rows": counts.processed, "succeeded": counts.succeeded, "failed": counts.failed, "duration_ms": duration_ms},
    )
    _flush({"ChunkDuration": (duration_ms, MetricUnit.Milliseconds)}, job.type)


@_never_fails
def chunk_failed(job: Job, chunk: int, reason: str) -> None:
    """An attempt at a chunk failed; Step Functions may retry it, else the job fails naming it."""
    logger.warning("chunk failed", extra=_keys(job) | {"step": "run_chunk", "chunk": chunk, "reason": _loggable(reason)})


@_never_fails
def part_done(job: Job, part: str, counts: ChunkCounts, duration_ms: int) -> None:
    logger.info(
        "part done",
        extra=_keys(job) | {"part": part, "rows": counts.processed, "succeeded": counts.succeeded, "failed": counts.failed, "duration_ms": duration_ms},
    )


@_never_fails
def export_written(job: Job, rows: int, zip_bytes: int, duration_ms: int) -> None:
    logger.info("export written", extra=_keys(job) | {"rows": rows, "zip_bytes": zip_bytes, "duration_ms": duration_ms})


@_never_fails
def job_failed(job: Job, step: str, reason: str) -> None:
    logger.warning("job failed", extra=_keys(job) | {"step": step, "reason": _loggable(reason)})


@_never_fails
def lease_kept(job: Job, lane: str, reason: str) -> None:
    """A lane's lease could not be let go of for an ended job: the lane stays busy until the lease expires."""
    logger.warning("lease kept", extra=_keys(job) | {"lane": lane, "reason": _loggable(reason)})


@_never_fails
def announce_failed(job: Job, reason: str) -> None:
    """A job ended but its `Job Ended` could not be published: its mails and a schedule's history will miss it."""
    logger.warning("job ended unannounced", extra=_keys(job) | {"status": job.status.value, "reason": _loggable(reason)})


@_never_fails
def job_ended(job: Job, family: Callable[[], str]) -> None:
    """A job's end, once: its status, counts and duration, in the log and as its kind's metrics.

    `family` answers the kind's state machine family (import, export, procedure): asked here, so
    that a kind no longer known fails this report only.
    """
    progress = job.progress
    logger.info(
        "job ended",
        extra=_keys(job)
        | {
            "status": job.status.value,
            "total": job.total,
            "processed": progress.processed,
            "succeeded": progress.succeeded,
            "failed": progress.failed,
            "duration_ms": job.run_ms,
        },
    )
    values: dict[str, tuple[float, MetricUnit]] = {}
    succeeded, failed = _ROW_METRICS.get(family(), (None, None))
    if succeeded:
        values[succeeded] = (progress.succeeded, MetricUnit.Count)
    if failed:
        values[failed] = (progress.failed, MetricUnit.Count)
    if job.run_ms is not None:
        values["JobDuration"] = (job.run_ms, MetricUnit.Milliseconds)
    if job.status.value == "failed":
        values["JobsFailed"] = (1, MetricUnit.Count)
    _flush(values, job.type)


def _flush(values: dict[str, tuple[float, MetricUnit]], kind: str) -> None:
    if not values:
        return
    emitted = EphemeralMetrics()
    emitted.add_dimension(name="kind", value=kind)
    for name, (value, unit) in values.items():
        emitted.add_metric(name=name, unit=unit, value=value)
    emitted.flush_metrics()
