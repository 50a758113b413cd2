"""Fixtures shared by every kind of test."""
from __future__ import annotations

import os

import boto3
import pytest
from moto import mock_aws

from ferry_local.moto_patches import patch_distributed_map_tolerance, patch_dynamodb_atomicity
from ferry_local.stack import running_stack
from ferry_local.template import REGION, Stack

# Tests that start a LocalStack run after all others, those of the real stack last.
# moto's backends are process-wide and mock_aws empties them when it starts and stops:
# an in-process moto test after a LocalStack started would wipe that stack's tables
# under it. pytest-xdist hands each worker its tests in collection order, so this
# order holds in every worker too.
_LAST = {"standin_stack": 1, "local_stack": 2}

# What the template's Globals give every function: the domain's job metrics need their namespace wherever they run.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Ferry")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: max((rank for name, rank in _LAST.items() if name in item.fixturenames), default=0))


@pytest.fixture
def aws_stack(monkeypatch):
    """The template's tables, bucket and state machine, in moto's in-process mock; Step Functions executes for real."""
    if running_stack() is not None:
        pytest.fail("a LocalStack runs in this process; mock_aws would empty its moto backends (see _LAST)")
    # A LocalStack that ran earlier in this process restored the environment; this is for a developer's shell.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch_distributed_map_tolerance()
    patch_dynamodb_atomicity()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        stack = Stack.from_template()
        stack.create_resources(boto3)
        yield stack


@pytest.fixture(scope="session")
def translated_template():
    """template.yaml as SAM translates it for CloudFormation, with a MongoDbUri given (tests.template.sam.translate for other parameters)."""
    from tests.template.sam import translate

    return translate()
