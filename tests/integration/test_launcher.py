"""Starting a job's execution on Step Functions (moto), and what its job says when that fails."""
from __future__ import annotations

import json

import boto3
import pytest

from ferry.aws.jobs_table import JobsTable
from ferry.aws.sfn_launcher import StepFunctionsLauncher
from ferry.core.errors import ServiceUnavailable
from ferry.jobs.kinds import kind_of
from ferry.jobs.model import JobStatus
from ferry.jobs.service import JobService, NewAttachment, Submission
from ferry.testing import InMemoryFiles, InMemoryIdempotency, InMemoryLeases, InMemoryReferences, RecordingEvents, StillClock


def test_a_launch_aws_refuses_fails_the_job_naming_the_error_without_the_account_behind_it(aws_stack):
    clock = StillClock()
    jobs = JobsTable(boto3.resource("dynamodb").Table(aws_stack.physical("JobsTable")), clock, retention_days=90)
    # A state machine that is not there: Step Functions' message quotes its ARN, account id included.
    missing = aws_stack.arn("ImportStateMachine").replace("importstatemachine", "gone")
    launcher = StepFunctionsLauncher(boto3.client("stepfunctions"), {"import": missing})
    service = JobService(jobs, InMemoryFiles(), launcher, RecordingEvents(), InMemoryIdempotency(), InMemoryReferences(), InMemoryLeases(clock), clock)
    rows = NewAttachment("rows.json", "application/json", content=json.dumps([{"vendorId": "1"}]).encode())
    with pytest.raises(ServiceUnavailable):
        service.submit(Submission("acme", kind_of("import_json"), {"dataType": "Customers", "actionType": "Create"}, rows))
    [failed], _ = jobs.list("acme")
    assert failed.status is JobStatus.FAILED
    assert failed.output == "The launch step failed: StateMachineDoesNotExist on StartExecution"
