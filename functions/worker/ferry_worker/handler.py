"""Step Functions -> the steps of each job kind. One invocation runs one step.

The state machines send `{"step", "job": {"tenant", "id", "kind"}, ...}`; the step is
found by (kind, step). A run an operator starts from the console first `submit`s its
job. Exceptions propagate on purpose: Step Functions matches its Retry/Catch on their
class name (StoreUnavailable and AwsBusy are retried; anything else ends the job failed).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ferry.aws.busy import AwsBusy, described, is_busy
from ferry.core.observability import logger, metrics
from ferry.core.settings import Settings
from ferry.jobs.kinds import load_kinds
from ferry.wiring import Runtime
from ferry_worker.steps import exports, imports, procedures

runtime = Runtime(Settings.from_env(os.environ))

Step = Callable[[dict[str, Any], Runtime], dict[str, Any]]
# The steps after which a job may have ended: its end is then announced (once) as a Job Ended event.
ENDING_STEPS = frozenset({"start", "finish", "fail"})
FAMILIES = {imports.FAMILY: imports.STEPS, exports.FAMILY: exports.STEPS, procedures.FAMILY: procedures.STEPS}
STEPS: dict[tuple[str, str], Step] = {
    (kind.name, step): function
    for kind in load_kinds()
    for step, function in FAMILIES.get(kind.state_machine, {}).items()
}


@logger.inject_lambda_context(clear_state=True)  # a warm instance's next job starts with no keys of the last
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event["step"] == "submit":
        return {"job": runtime.lifecycle.submit(event["execution"], event.get("request") or {}, datetime.fromisoformat(event["started"]))}
    job, step = event["job"], event["step"]
    logger.append_keys(job_id=job["id"], tenant=job["tenant"], kind=job["kind"], step=step)
    function = STEPS.get((job["kind"], step))
    if function is None:
        raise ValueError(f"no step {step!r} for job kind {job['kind']!r}")
    try:
        result = function(event, runtime)
        if step in ENDING_STEPS:
            runtime.lifecycle.announce(job["tenant"], job["id"])  # its reads and its publish meet the same limits
    except Exception as exc:
        if is_busy(exc):
            # botocore's own class names vary by service and code: one name for the state machines' Retry.
            raise AwsBusy(f"AWS stayed busy: {described(exc)}") from exc
        raise
    metrics.add_metric(name=f"Steps{step.title().replace('_', '')}", unit="Count", value=1)
    return result
