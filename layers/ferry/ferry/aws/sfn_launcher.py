"""The Launcher port on Step Functions: one execution per job, named after it, on its kind's state machine."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ferry.aws.busy import described
from ferry.jobs.kinds import kind_of
from ferry.jobs.model import Job
from ferry.jobs.ports import LaunchFailed


class StepFunctionsLauncher:
    def __init__(self, sfn_client: Any, state_machines: Mapping[str, str]) -> None:
        self._sfn = sfn_client
        self._arns = state_machines  # state machine family ("import", ...) -> ARN

    def _arn(self, job: Job) -> str:
        family = kind_of(job.type).state_machine
        if family not in self._arns:
            raise RuntimeError(f"no state machine {family!r} is configured for this function (FERRY_STATE_MACHINES)")
        return self._arns[family]

    def launch(self, job: Job) -> None:
        # The execution is named after the job: Step Functions then refuses a second run of the same job.
        try:
            self._sfn.start_execution(
                stateMachineArn=self._arn(job),
                name=job.id,
                input=json.dumps({"job": {"tenant": job.tenant, "id": job.id, "kind": job.type}}),
            )
        except (ClientError, BotoCoreError) as exc:
            raise LaunchFailed(described(exc)) from exc

    def status(self, job: Job) -> str | None:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED; None when the job was never launched."""
        execution_arn = self._arn(job).replace(":stateMachine:", ":execution:") + f":{job.execution_name or job.id}"
        try:
            return self._sfn.describe_execution(executionArn=execution_arn)["status"]
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return None
