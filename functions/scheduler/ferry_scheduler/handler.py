"""EventBridge Scheduler tick `{"at"}` -> start the exports due; EventBridge `Job Ended` -> watermark, deactivation, history."""
from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ferry.core.clock import parse_rfc3339
from ferry.core.observability import logger, metrics
from ferry.core.settings import Settings
from ferry.wiring import Runtime

runtime = Runtime(Settings.from_env(os.environ))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == "Job Ended":
        runtime.scheduled_exports.ended(event["detail"])
        return {"handled": event["detail"].get("id")}
    # The schedule's own time (<aws.scheduler.scheduled-time>), not the invocation's: a late tick still judges its hour.
    at = parse_rfc3339(event["at"]) if event.get("at") else runtime.clock.now()
    started = runtime.scheduled_exports.tick(at)
    metrics.add_metric(name="ScheduledExportsStarted", unit="Count", value=len(started))
    logger.info("tick", extra={"at": at.isoformat(), "started": started})
    return {"started": started}
