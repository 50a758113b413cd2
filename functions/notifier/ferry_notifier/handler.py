"""EventBridge `Job Ended` -> a mail to the tenant's recipients, once per job (a repeated event mails nobody).

A refused mail is logged, never fails anything; a jobs table out of reach fails the invocation, which
EventBridge's asynchronous invoke retries.
"""
from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from ferry.aws.ses_mail import SesMailer
from ferry.core.observability import logger, metrics
from ferry.core.settings import Settings
from ferry.mail.notices import MailRefused, procedure_notice, send_once
from ferry.wiring import Runtime

runtime = Runtime(Settings.from_env(os.environ))
if not runtime.settings.mail_from:
    raise RuntimeError("FERRY_MAIL_FROM (the template's MailFrom) is not set for the notifier")
mailer = SesMailer(boto3.client("sesv2"), runtime.settings.mail_from)


@logger.inject_lambda_context(clear_state=True)  # a warm instance's next mail starts with no keys of the last
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = event.get("detail") or {}
    logger.append_keys(job_id=job.get("id"), tenant=job.get("tenant"))
    mail = procedure_notice(job, runtime.tenant_settings.get(job["tenant"])) if job.get("tenant") else None
    if mail is None:
        return {"sent": False}
    try:
        if not send_once(mail, job["tenant"], job["id"], runtime.jobs, mailer):
            logger.info("the notification was sent before: this Job Ended is a repeat")
            return {"sent": False, "repeat": True}
    except MailRefused as refused:  # a bounce or a refusal is the mail's problem, not the job's
        logger.warning("the notification could not be sent", extra={"reason": str(refused)})
        return {"sent": False}
    metrics.add_metric(name="MailsSent", unit="Count", value=1)
    logger.info("notification sent", extra={"to": len(mail.to), "subject": mail.subject})
    return {"sent": True}
