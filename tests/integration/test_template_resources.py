"""The resources tests and the local stack build come from template.yaml itself."""
from __future__ import annotations

import json

import boto3


def test_tables_have_the_keys_index_and_ttl_of_the_template(aws_stack):
    dynamodb = boto3.client("dynamodb")
    jobs = dynamodb.describe_table(TableName=aws_stack.physical("JobsTable"))["Table"]
    assert [k["AttributeName"] for k in jobs["KeySchema"]] == ["pk", "sk"]
    assert [i["IndexName"] for i in jobs["GlobalSecondaryIndexes"]] == ["by_status"]
    ttl = dynamodb.describe_time_to_live(TableName=aws_stack.physical("JobsTable"))["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    keys = dynamodb.describe_table(TableName=aws_stack.physical("ApiKeysTable"))["Table"]
    assert [k["AttributeName"] for k in keys["KeySchema"]] == ["key_hash"]


def test_bucket_and_state_machine_exist_with_substitutions_applied(aws_stack):
    boto3.client("s3").head_bucket(Bucket=aws_stack.physical("FilesBucket"))
    sfn = boto3.client("stepfunctions")
    [machine] = sfn.list_state_machines()["stateMachines"]
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"])
    assert definition["States"]["Start"]["Parameters"]["FunctionName"] == aws_stack.arn("WorkerFunction")
    assert "${" not in json.dumps(definition)


def test_function_environments_resolve_refs_to_this_stack(aws_stack):
    api = aws_stack.function("ApiFunction")
    assert api.handler == "ferry_api.handler.lambda_handler"
    assert api.environment["FERRY_JOBS_TABLE"] == aws_stack.physical("JobsTable")
    assert api.environment["FERRY_JOB_STATE_MACHINE_ARN"] == aws_stack.arn("JobStateMachine")
    assert api.environment["FERRY_CHUNK_ROWS"] == "10000"
    worker = aws_stack.function("WorkerFunction")
    assert "FERRY_JOB_STATE_MACHINE_ARN" not in worker.environment


def test_http_routes_prefer_literal_segments():
    from ferry_local.template import Stack

    routes = Stack.from_template().http_routes()
    first = next(r for r in routes if r.matches("GET", "/import/types") is not None)
    assert first.path == "/import/types"
    assert next(r for r in routes if r.matches("DELETE", "/jobs/J1") is not None).path == "/jobs/{id}"
    assert all(r.matches("PUT", "/import") is None for r in routes)
