"""EventBridge Scheduler -> the sweeper. The schedule's input says how old a job must be to be looked at."""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ferry.jobs.sweeper import Sweeper
from ferry.core.observability import logger, metrics
from ferry.wiring import Runtime
from ferry.core.settings import Settings

runtime = Runtime(Settings.from_env(os.environ))
sweeper = Sweeper(runtime.jobs, runtime.launcher, runtime.leases, runtime.lifecycle.announce, runtime.clock)

# A job younger than this may still be between its creation and its launch.
DEFAULT_OLDER_THAN_S = 120


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    older_than = timedelta(seconds=int((event or {}).get("older_than_seconds", DEFAULT_OLDER_THAN_S)))
    swept = sweeper.sweep(older_than)
    for found in swept:
        logger.warning("job ended by the sweeper", extra={"tenant": found.job.tenant, "job_id": found.job.id, "reason": found.reason})
    metrics.add_metric(name="JobsSwept", unit="Count", value=len(swept))
    return {"swept": [found.job.id for found in swept]}
