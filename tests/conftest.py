"""Fixtures shared by every kind of test."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from ferry_local.template import Stack


@pytest.fixture
def aws_stack(monkeypatch):
    """The template's tables, bucket and state machine, in moto's in-process mock."""
    # The local stack of the e2e tests points boto3 at its server through this variable.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        stack = Stack.from_template()
        stack.create_resources(boto3)
        yield stack
