"""The procedure state machine's steps (statemachines/procedure.asl.json)."""
from __future__ import annotations

from typing import Any

from ferry.wiring import Runtime
from ferry_worker.failures import failure_reason

FAMILY = "procedure"


def start(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return runtime.procedure_runner.start(job["tenant"], job["id"])


def run_part(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return {"ran": runtime.procedure_runner.run_part(job["tenant"], job["id"], event["part"])}


def finish(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return {"status": runtime.procedure_runner.finish(job["tenant"], job["id"]).value}


def fail(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    step, error = next(iter((event.get("failure") or {"unknown": {}}).items()))
    return {"status": runtime.procedure_runner.fail(job["tenant"], job["id"], step, failure_reason(error)).value}


STEPS = {"start": start, "run_part": run_part, "finish": finish, "fail": fail}
