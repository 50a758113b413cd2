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
