"""The export state machine's steps (statemachines/export.asl.json)."""
from __future__ import annotations

from typing import Any

from ferry.wiring import Runtime
from ferry_worker.failures import failure_reason
from ferry_worker.steps.imports import start

FAMILY = "export"


def export(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return {"exported": runtime.export_runner.export(job["tenant"], job["id"])}


def deliver(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return {"delivered": runtime.export_runner.deliver(job["tenant"], job["id"])}


def finish(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return {"status": runtime.export_runner.finish(job["tenant"], job["id"]).value}


def fail(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    step, error = next(iter((event.get("failure") or {"unknown": {}}).items()))
    return {"status": runtime.export_runner.fail(job["tenant"], job["id"], step, failure_reason(error)).value}


STEPS = {"start": start, "export": export, "deliver": deliver, "finish": finish, "fail": fail}
