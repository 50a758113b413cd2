"""Step Functions -> the import runner. One invocation runs one step of statemachines/job.asl.json.

Exceptions propagate on purpose: Step Functions matches its Retry/Catch on their
class name (StoreUnavailable is retried; anything else ends the job failed).
"""
from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ferry.imports.runner import ChunkRef, ImportRunner
from ferry.core.observability import logger, metrics, tracer
from ferry.runtime import Runtime
from ferry.core.settings import Settings
from ferry_worker.failures import failure_reason

runtime = Runtime(Settings.from_env(os.environ))
runner = ImportRunner(runtime.jobs, runtime.files, runtime.entity_store, runtime.clock, runtime.settings.chunk_rows)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step, job = event["step"], event["job"]
    tenant, job_id = job["tenant"], job["id"]
    logger.append_keys(job_id=job_id, tenant=tenant, step=step)
    if step == "start":
        return {"proceed": runner.start(tenant, job_id)}
    if step == "plan":
        return {"manifest_key": runner.plan(tenant, job_id)}
    if step == "run_chunk":
        ran = runner.run_chunk(tenant, job_id, ChunkRef(**event["chunk"]))
        metrics.add_metric(name="ChunksRun", unit="Count", value=1)
        return {"ran": ran}
    if step == "finish":
        status = runner.finish(tenant, job_id)
        metrics.add_metric(name=f"Jobs{status.value.capitalize()}", unit="Count", value=1)
        return {"status": status.value}
    if step == "fail":
        failed_step, error = next(iter((event.get("failure") or {"unknown": {}}).items()))
        reason = failure_reason(error)
        logger.error("job failed", extra={"failed_step": failed_step, "reason": reason})
        return {"status": runner.fail(tenant, job_id, failed_step, reason).value}
    raise ValueError(f"unknown step {step!r}")
