"""The mail for an ended procedure (seed 000): to ErrorRecipients when it failed, InfoRecipients when it finished.

Built from the `Job Ended` event's detail (the canonical job), never from inside a job kind.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ferry.tenants.settings import TenantSettings


@dataclass(frozen=True)
class Mail:
    to: list[str]
    subject: str
    body: str


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


class NoticeRecord(Protocol):
    """Which jobs' notices were taken on (the jobs table: `JobRepository.claim_notice`)."""

    def claim_notice(self, tenant: str, job_id: str) -> bool: ...

    def release_notice(self, tenant: str, job_id: str) -> None: ...


class MailRefused(Exception):
    """The mail service refused or bounced the notice (its words in the message)."""


def send_once(mail: Mail, tenant: str, job_id: str, record: NoticeRecord, mailer: Mailer) -> bool:
    """Send the notice of a job's end, unless it was sent before: False then.

    EventBridge delivers an event at least once, and a publisher killed between publishing and
    confirming makes the sweeper publish the end again; the recipients get one mail all the same.
    A mail the mail service refused (MailRefused) is released, so that a repeat may send it; the
    record's own errors pass through as they are.
    """
    if not record.claim_notice(tenant, job_id):
        return False
    try:
        mailer.send(mail)
    except Exception as exc:
        record.release_notice(tenant, job_id)
        raise MailRefused(f"{type(exc).__name__}: {exc}") from exc
    return True


def _duration(job: dict[str, Any]) -> str:
    if not job.get("started_at") or not job.get("terminated_at"):
        return "-"
    seconds = (datetime.fromisoformat(job["terminated_at"].replace("Z", "+00:00")) - datetime.fromisoformat(job["started_at"].replace("Z", "+00:00"))).total_seconds()
    return f"{seconds:.1f} s"


def procedure_notice(job: dict[str, Any], settings: TenantSettings) -> Mail | None:
    """The mail for an ended procedure job, or None when nobody is to get one."""
    if job.get("type") != "procedure" or job.get("status") not in ("finished", "failed"):
        return None
    failed = job["status"] == "failed"
    recipients = settings.NotificationCenter.ErrorRecipients if failed else settings.NotificationCenter.InfoRecipients
    if not recipients:
        return None
    procedure = job.get("args", {}).get("procedure", "procedure")
    outcome = "failed" if failed else "succeeded"
    progress = job.get("progress", {})
    lines = [
        f"Procedure: {procedure}",
        f"Outcome: {outcome}",
        f"Job: {job['id']}",
        f"Started: {job.get('started_at') or '-'}",
        f"Duration: {_duration(job)}",
        f"Counts: {progress.get('processed', 0)} processed, {progress.get('succeeded', 0)} succeeded, {progress.get('failed', 0)} failed",
        "",
        ("Failure (step and reason): " if failed else "Summary: ") + (job.get("output") or "-"),
    ]
    problems = [e["message"] for e in job.get("errors") or []]
    if problems:
        # The items that failed without failing the run (a refused row, an image): the first of them, in words.
        count = max(job.get("error_count") or 0, len(problems))
        lines += ["", f"{count} item{'s' if count != 1 else ''} failed" + (f"; the first {len(problems)}:" if len(problems) < count else ":")] + [f"- {p}" for p in problems]
    return Mail(list(recipients), f"[Ferry] {procedure} {outcome}", "\n".join(lines) + "\n")
