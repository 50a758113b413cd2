"""The import state machine's steps (statemachines/import.asl.json), for every kind it runs."""
from __future__ import annotations

from typing import Any

from ferry.imports.runner import ChunkRef
from ferry.wiring import Runtime
from ferry_worker.failures import failure_reason

FAMILY = "import"


def start(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return {"proceed": runtime.lifecycle.start(job["tenant"], job["id"])}


def plan(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return {"manifest_key": runtime.import_runner.plan(job["tenant"], job["id"])}


def run_chunk(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return {"ran": runtime.import_runner.run_chunk(job["tenant"], job["id"], ChunkRef(**event["chunk"]))}


def finish(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    return {"status": runtime.import_runner.finish(job["tenant"], job["id"]).value}


def fail(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    job = event["job"]
    step, error = next(iter((event.get("failure") or {"unknown": {}}).items()))
    return {"status": runtime.import_runner.fail(job["tenant"], job["id"], step, failure_reason(error)).value}


STEPS = {"start": start, "plan": plan, "run_chunk": run_chunk, "finish": finish, "fail": fail}
