"""The resources tests and the local stack build come from template.yaml itself."""
from __future__ import annotations

import json
import re

import boto3
import pytest


def test_tables_have_the_keys_index_and_ttl_of_the_template(aws_stack):
    dynamodb = boto3.client("dynamodb")
    jobs = dynamodb.describe_table(TableName=aws_stack.physical("JobsTable"))["Table"]
    assert [k["AttributeName"] for k in jobs["KeySchema"]] == ["pk", "sk"]
    assert [i["IndexName"] for i in jobs["GlobalSecondaryIndexes"]] == ["by_status", "by_activity"]
    ttl = dynamodb.describe_time_to_live(TableName=aws_stack.physical("JobsTable"))["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    keys = dynamodb.describe_table(TableName=aws_stack.physical("ApiKeysTable"))["Table"]
    assert [k["AttributeName"] for k in keys["KeySchema"]] == ["key_hash"]


def test_bucket_and_state_machine_exist_with_substitutions_applied(aws_stack):
    boto3.client("s3").head_bucket(Bucket=aws_stack.physical("FilesBucket"))
    sfn = boto3.client("stepfunctions")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    assert set(machines) == {aws_stack.physical(f"{family}StateMachine") for family in ("Import", "Export", "Procedure")}
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=machines[aws_stack.physical("ImportStateMachine")])["definition"])
    exports = json.loads(sfn.describe_state_machine(stateMachineArn=machines[aws_stack.physical("ExportStateMachine")])["definition"])
    assert exports["States"]["Deliver"]["Parameters"]["FunctionName"] == aws_stack.arn("WorkerFunction")
    assert definition["States"]["Start"]["Parameters"]["FunctionName"] == aws_stack.arn("WorkerFunction")
    assert definition["States"]["Chunks"]["ToleratedFailurePercentage"] == 0
    assert "${" not in json.dumps(definition)


def test_function_environments_resolve_refs_to_this_stack(aws_stack):
    api = aws_stack.function("ApiFunction")
    assert api.handler == "ferry_api.handler.lambda_handler"
    assert api.environment["FERRY_JOBS_TABLE"] == aws_stack.physical("JobsTable")
    machines = {family: aws_stack.arn(f"{family.title()}StateMachine") for family in ("import", "export", "procedure")}
    assert api.environment["FERRY_STATE_MACHINES"] == ",".join(f"{family}={arn}" for family, arn in machines.items())
    assert api.environment["FERRY_CHUNK_ROWS"] == "10000"
    worker = aws_stack.function("WorkerFunction")
    assert worker.environment["FERRY_STATE_MACHINES"] == f"import={aws_stack.arn('ImportStateMachine')}"  # ImportFiles starts imports


def test_http_routes_prefer_literal_segments():
    from ferry_local.template import Stack

    routes = Stack.from_template().http_routes()
    first = next(r for r in routes if r.matches("GET", "/import/types") is not None)
    assert first.path == "/import/types"
    assert next(r for r in routes if r.matches("DELETE", "/jobs/J1") is not None).path == "/jobs/{id}"
    # A method a path does not have goes to $default, whose function answers it as a problem.
    assert next(r for r in routes if r.matches("PUT", "/import") is not None).path == "$default"


def test_physical_names_are_valid_bucket_names_even_for_long_stack_names():
    from ferry_local.template import Stack

    names = {Stack.from_template(stack_name=stack).physical("FilesBucket") for stack in ("Ferry_Dev", "x" * 80, "x" * 81)}
    assert "ferry-dev-filesbucket" in names and len(names) == 3
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name) for name in names)


def test_parameter_overrides_reach_the_functions_as_strings():
    from ferry_local.template import Stack

    stack = Stack.from_template(parameter_overrides={"ChunkRows": 500, "LogLevel": "DEBUG"})
    worker = stack.function("WorkerFunction")
    assert (worker.environment["FERRY_CHUNK_ROWS"], worker.environment["POWERTOOLS_LOG_LEVEL"]) == ("500", "DEBUG")
    assert (worker.memory_mb, worker.timeout_s) == (2048, 900)  # its own, over the Globals' 1024 MB
    with pytest.raises(KeyError, match="ChunkSize"):
        Stack.from_template(parameter_overrides={"ChunkSize": 1})


def test_intrinsics_resolve_to_this_stack_and_unknown_ones_stop_the_build():
    from ferry_local.template import Stack

    stack = Stack.from_template(stack_name="s1")
    sub = {"Fn::Sub": ["${Name}:${AWS::Region}:${WorkerFunction.Arn}", {"Name": {"Ref": "FilesBucket"}}]}
    assert stack.resolve(sub) == f"s1-filesbucket:us-east-1:{stack.arn('WorkerFunction')}"
    assert stack.resolve({"Fn::Join": ["/", [{"Ref": "JobsTable"}, "x"]]}) == "s1-jobstable/x"
    assert stack.resolve({"Fn::If": ["InVpc", "in", {"Fn::If": ["CreatesMongoDbSecret", "made", "given"]}]}) == "given"
    with pytest.raises(NotImplementedError, match="Fn::Select"):
        stack.resolve({"Fn::Select": [0, ["a"]]})
