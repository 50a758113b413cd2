"""What must hold of every job a local stack ran, checked at the end of each e2e session.

No job is left pending, running or cancelling; an ended job's counts add up
(succeeded + failed == processed; processed == total unless it was cancelled or
failed); and no job wrote more rows than it reports: the documents whose last
writer is the job are at most its succeeded rows (rows with one key in one
import fold into one document, and a later import may take documents over).
"""
from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

from boto3.dynamodb.conditions import Attr

from ferry.jobs.model import Job, JobStatus
from ferry.aws.jobs_table import job_from_item
from ferry_local.stack import LocalStack


def all_jobs(stack: LocalStack) -> list[Job]:
    table = stack.session.resource("dynamodb").Table(stack.stack.physical("JobsTable"))
    params = {"FilterExpression": Attr("sk").begins_with("JOB#"), "ConsistentRead": True}
    jobs = []
    while True:
        page = table.scan(**params)
        jobs += [job_from_item(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return jobs
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def documents_by_writer(sqlite_path: Path) -> Counter[tuple[str, str]]:
    """(tenant, job id) -> documents whose last writer is that job, over every data type."""
    counts: Counter[tuple[str, str]] = Counter()
    if not sqlite_path.exists():
        return counts
    with sqlite3.connect(sqlite_path, timeout=30) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            for tenant, writer, n in db.execute(f"SELECT tenant, writer, COUNT(*) FROM {quoted} GROUP BY tenant, writer"):
                counts[(tenant, writer)] += n
    return counts


def wait_until_every_job_ended(stack: LocalStack, timeout: float = 120.0) -> list[Job]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = all_jobs(stack)
        if all(job.status.ended for job in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def violations(jobs: list[Job], written: Counter[tuple[str, str]]) -> list[str]:
    found = []
    for job in jobs:
        p = job.progress
        where = f"job {job.id} ({job.tenant}, {job.status.value})"
        if not job.status.ended:
            found.append(f"{where} never ended")
            continue
        if p.succeeded + p.failed != p.processed:
            found.append(f"{where}: succeeded {p.succeeded} + failed {p.failed} != processed {p.processed}")
        if job.status is JobStatus.FINISHED and p.processed != (job.total or 0):
            found.append(f"{where}: processed {p.processed} of {job.total}")
        if written[(job.tenant, job.id)] > p.succeeded:
            found.append(f"{where}: {written[(job.tenant, job.id)]} documents written, {p.succeeded} reported")
    return found
