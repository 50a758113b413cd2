"""The launcher port: hands a stored job to the machinery that runs it, and tells whether that still runs.

One adapter: Step Functions, one execution per job, named after the job.
"""
from __future__ import annotations

import json
from typing import Any, Protocol


class JobLauncher(Protocol):
    def launch(self, tenant: str, job_id: str) -> None: ...

    def status(self, job_id: str) -> str | None: ...


class StepFunctionsLauncher:
    def __init__(self, sfn_client: Any, state_machine_arn: str) -> None:
        self._sfn = sfn_client
        self._arn = state_machine_arn

    def launch(self, tenant: str, job_id: str) -> None:
        # The execution is named after the job: Step Functions then refuses a second run of the same job.
        self._sfn.start_execution(
            stateMachineArn=self._arn,
            name=job_id,
            input=json.dumps({"job": {"tenant": tenant, "id": job_id}}),
        )

    def status(self, job_id: str) -> str | None:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED; None when the job was never launched."""
        execution_arn = self._arn.replace(":stateMachine:", ":execution:") + f":{job_id}"
        try:
            return self._sfn.describe_execution(executionArn=execution_arn)["status"]
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return None
