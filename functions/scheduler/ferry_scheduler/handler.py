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
    tick = runtime.scheduled_exports.tick(at)
    metrics.add_metric(name="ScheduledExportsStarted", unit="Count", value=len(tick.started))
    logger.info("tick", extra={"at": at.isoformat(), "started": tick.started})
    for refused in tick.refused:
        logger.warning("scheduled export refused and deactivated", extra=refused)
    for postponed in tick.postponed:
        logger.warning("scheduled export postponed to the next tick", extra=postponed)
    return {"started": tick.started, "refused": tick.refused, "postponed": tick.postponed}
