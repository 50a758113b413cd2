"""What `sam deploy` creates: template.yaml translated by SAM, read as an operator reviewing the change set would."""
from __future__ import annotations

import json

import pytest

from ferry.jobs.kinds import load_kinds
from ferry_local.template import Stack
from tests.template.sam import policy_statements, resources_of_type, translate

# Actions AWS offers on no resource that a policy could name (Amazon Location's place search).
UNNAMED_RESOURCE_ACTIONS = {"geo-places:Geocode"}


def _functions(template):
    return resources_of_type(template, "AWS::Lambda::Function")


def test_every_function_gets_the_mongodb_secret_and_none_the_connection_string(translated_template):
    for logical_id, function in _functions(translated_template).items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert "MONGODB_URI" not in variables, logical_id
        assert variables["FERRY_MONGODB_SECRET"] == {"Fn::If": ["CreatesMongoDbSecret", {"Ref": "MongoDbUriSecret"}, {"Ref": "MongoDbSecret"}]}
        assert "'MongoDbUri'" not in repr(function), logical_id
    # The connection string goes to the secret the stack makes, and nowhere else.
    secret = translated_template["Resources"]["MongoDbUriSecret"]
    assert (secret["Type"], secret["Condition"], secret["Properties"]["SecretString"]) == ("AWS::SecretsManager::Secret", "CreatesMongoDbSecret", {"Ref": "MongoDbUri"})
    uses = [lid for lid, resource in translated_template["Resources"].items() if "'MongoDbUri'" in repr(resource)]
    assert uses == ["MongoDbUriSecret"]


@pytest.mark.parametrize(
    ("parameters", "secret"),
    [
        ({"MongoDbUri": "mongodb://db.example.org"}, "ferry-local/mongodb-uri"),
        ({"MongoDbSecret": "prod/ferry-mongodb", "MongoDbUri": "ignored"}, "prod/ferry-mongodb"),
        ({}, ""),  # and then the functions refuse to start (tests/unit/test_settings.py)
    ],
)
def test_the_functions_are_told_the_secret_they_were_given_or_the_one_the_stack_made(parameters, secret):
    stack = Stack.from_template(parameter_overrides=parameters)
    for function in stack.functions():
        assert function.environment["FERRY_MONGODB_SECRET"] == secret
        assert "MONGODB_URI" not in function.environment


def _mongodb_secret_statements(template):
    return [s for lid, s in policy_statements(template) if s["Action"] == ["secretsmanager:GetSecretValue"] and "MongoDbSecret" in repr(s["Resource"])]


def test_only_the_worker_may_read_the_mongodb_secret_and_only_that_secret(translated_template):
    readers = {lid for lid, s in policy_statements(translated_template) if "MongoDbSecret" in repr(s.get("Resource"))}
    assert readers == {"WorkerFunctionRole"}
    (statement,) = _mongodb_secret_statements(translated_template)
    condition, made, given = statement["Resource"]["Fn::If"]
    assert (condition, made) == ("CreatesMongoDbSecret", {"Ref": "MongoDbUriSecret"})
    # A secret named by the parameter: its ARN (name, dash, six characters) whether a name or an ARN was given.
    patterns = [resource["Fn::Sub"][0] for resource in given]
    assert [p.rsplit(":secret:", 1)[1] for p in patterns] == ["${Name}-??????", "${Name}"]
    stack = Stack.from_template()
    for value in ("prod/ferry-mongodb", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/ferry-mongodb-AbC123"):
        stack.parameters["MongoDbSecret"] = value
        names = {_select_split(resource["Fn::Sub"][1]["Name"], stack) for resource in given}
        assert names == {"prod/ferry-mongodb" if value.startswith("prod") else "prod/ferry-mongodb-AbC123"}


def _select_split(expression, stack):
    """Fn::Select over Fn::Split, as CloudFormation evaluates it (the local stack does not)."""
    index, split = expression["Fn::Select"]
    separator, text = split["Fn::Split"]
    return stack.resolve(text).split(separator)[index]


def test_kms_decrypt_only_with_a_customer_key_and_only_through_secrets_manager(translated_template):
    conditional = [p for p in translated_template["Resources"]["WorkerFunctionRole"]["Properties"]["Policies"] if "Fn::If" in p]
    (policy,) = conditional
    condition, document, otherwise = policy["Fn::If"]
    assert (condition, otherwise) == ("DecryptsWithMongoDbSecretKey", {"Ref": "AWS::NoValue"})
    (statement,) = document["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == (["kms:Decrypt"], {"Ref": "MongoDbSecretKey"})
    assert "kms:ViaService" in statement["Condition"]["StringEquals"]
    kms = [s for _, s in policy_statements(translated_template) if any(a.startswith("kms:") for a in _actions(s))]
    assert kms == [statement]


def _actions(statement):
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def test_no_policy_statement_grants_every_resource_unless_aws_names_none(translated_template):
    wide = [
        (logical_id, statement["Action"])
        for logical_id, statement in policy_statements(translated_template)
        if statement.get("Effect") == "Allow" and statement.get("Resource") in ("*", ["*"]) and not set(_actions(statement)) <= UNNAMED_RESOURCE_ACTIONS
    ]
    assert wide == []


def test_the_deployment_is_refused_without_a_mongodb_or_with_subnets_and_no_security_groups(translated_template):
    rules = translated_template["Rules"]
    (mongodb,) = rules["BusinessDataHasADatabase"]["Assertions"]
    assert "MongoDbUri" in mongodb["AssertDescription"] and "MongoDbSecret" in mongodb["AssertDescription"]
    stack = Stack.from_template()
    for parameters, holds in (({}, False), ({"MongoDbUri": "mongodb://x"}, True), ({"MongoDbSecret": "s"}, True)):
        stack.parameters |= {"MongoDbUri": "", "MongoDbSecret": ""} | parameters
        assert stack._evaluate(mongodb["Assert"]) is holds, parameters
    (vpc,) = rules["VpcNeedsSecurityGroups"]["Assertions"]
    stack.parameters |= {"VpcSubnetIds": "subnet-1", "VpcSecurityGroupIds": ""}
    assert stack._evaluate(vpc["Assert"]) is False


def test_functions_run_in_the_vpc_exactly_when_subnets_and_security_groups_are_given(translated_template):
    for logical_id, function in _functions(translated_template).items():
        condition, in_vpc, outside = function["Properties"]["VpcConfig"]["Fn::If"]
        assert (condition, outside) == ("InVpc", {"Ref": "AWS::NoValue"}), logical_id
        assert in_vpc == {"SubnetIds": {"Fn::Split": [",", {"Ref": "VpcSubnetIds"}]}, "SecurityGroupIds": {"Fn::Split": [",", {"Ref": "VpcSecurityGroupIds"}]}}
    assert Stack.from_template().condition("InVpc") is False
    assert Stack.from_template(parameter_overrides={"VpcSubnetIds": "subnet-1,subnet-2", "VpcSecurityGroupIds": "sg-1"}).condition("InVpc") is True


def test_every_alarm_notifies_the_alarm_topic_going_off_and_back_to_ok(translated_template):
    alarms = resources_of_type(translated_template, "AWS::CloudWatch::Alarm")
    assert {
        "ImportExecutionsBrokenAlarm", "ExportExecutionsBrokenAlarm", "ProcedureExecutionsBrokenAlarm",
        "JobFailuresAlarm", "SweeperFindsAlarm", "Api5xxAlarm", "FunctionErrorsAlarm", "FunctionThrottlesAlarm",
    } <= set(alarms)
    for logical_id, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert alarm["Properties"]["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id
    subscription = translated_template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "MailsAlarms"
    assert subscription["Properties"] == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}


def test_a_sum_of_metrics_counts_a_quiet_metric_as_zero(translated_template):
    # CloudWatch has no datapoint for a metric with no activity in a period; unfilled, one quiet term would empty the sum.
    for logical_id, alarm in resources_of_type(translated_template, "AWS::CloudWatch::Alarm").items():
        metrics = alarm["Properties"].get("Metrics", [])
        (expression,) = [m["Expression"] for m in metrics if "Expression" in m] or [None]
        terms = [m["Id"] for m in metrics if "MetricStat" in m]
        if expression is not None:
            assert expression == " + ".join(f"FILL({term}, 0)" for term in terms), logical_id


def _watched(alarm, namespace, metric):
    """The dimension values of the alarm's metrics of that name (its own metric, or those of its metric math)."""
    properties = alarm["Properties"]
    stats = [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
    if "MetricName" in properties:
        stats.append(properties)
    return [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in stats if (m["Namespace"], m["MetricName"]) == (namespace, metric)]


def test_alarms_watch_every_state_machine_every_function_the_api_and_the_sweeper(translated_template):
    resources = translated_template["Resources"]
    functions = sorted(_functions(translated_template))
    for family in ("Import", "Export", "Procedure"):
        # A job that fails fails its execution too: only executions that did not end by themselves are an alarm here.
        for metric in ("ExecutionsTimedOut", "ExecutionsAborted"):
            assert _watched(resources[f"{family}ExecutionsBrokenAlarm"], "AWS/States", metric) == [{"StateMachineArn": {"Ref": f"{family}StateMachine"}}]
    failures = resources["JobFailuresAlarm"]
    # Powertools' metrics: namespace POWERTOOLS_METRICS_NAMESPACE, dimension service, and each job's kind.
    every_kind = sorted(({"service": "ferry", "kind": kind.name} for kind in load_kinds()), key=repr)
    assert sorted(_watched(failures, "Ferry", "JobsFailed"), key=repr) == every_kind
    assert _watched(resources["SweeperFindsAlarm"], "Ferry", "JobsSwept") == [{"service": "ferry"}]
    assert failures["Properties"]["Threshold"] == {"Ref": "FailedJobsPerHourAlarm"}
    assert _watched(resources["Api5xxAlarm"], "AWS/ApiGateway", "5xx") == [{"ApiId": {"Ref": "HttpApi"}, "Stage": "$default"}]
    for alarm, metric in (("FunctionErrorsAlarm", "Errors"), ("FunctionThrottlesAlarm", "Throttles")):
        watched = sorted(d["FunctionName"]["Ref"] for d in _watched(resources[alarm], "AWS/Lambda", metric))
        assert watched == functions, alarm
    globals_ = Stack.from_template().template["Globals"]["Function"]["Environment"]["Variables"]
    assert (globals_["POWERTOOLS_METRICS_NAMESPACE"], globals_["POWERTOOLS_SERVICE_NAME"]) == ("Ferry", "ferry")


def test_a_stack_given_an_existing_secret_makes_none():
    template = translate({"MongoDbSecret": "prod/ferry-mongodb"})
    assert template["Resources"]["MongoDbUriSecret"]["Condition"] == "CreatesMongoDbSecret"
    stack = Stack.from_template(parameter_overrides={"MongoDbSecret": "prod/ferry-mongodb", "MongoDbUri": "mongodb://ignored"})
    assert stack.condition("CreatesMongoDbSecret") is False


PUBLIC_PATHS = {"/docs", "/openapi.json"}


def test_every_route_but_the_api_description_goes_through_the_key_authorizer(translated_template):
    (api,) = resources_of_type(translated_template, "AWS::ApiGatewayV2::Api").values()
    body = api["Properties"]["Body"]
    authorizer = body["components"]["securitySchemes"]["ApiKeyAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert (authorizer["authorizerPayloadFormatVersion"], authorizer["enableSimpleResponses"]) == ("2.0", True)
    routes = {(path, method): op.get("security") for path, methods in body["paths"].items() for method, op in methods.items()}
    assert len(routes) == len(Stack.from_template().http_routes()) and ("$default", "x-amazon-apigateway-any-method") in routes
    for (path, method), security in routes.items():
        assert security == ([{"NONE": []}] if path in PUBLIC_PATHS else [{"ApiKeyAuthorizer": []}]), (path, method)


def test_the_api_throttles_and_logs_each_request_without_its_headers(translated_template):
    (stage,) = resources_of_type(translated_template, "AWS::ApiGatewayV2::Stage").values()
    properties = stage["Properties"]
    assert properties["DefaultRouteSettings"] == {"ThrottlingRateLimit": {"Ref": "ApiThrottleRate"}, "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"}}
    log_format = properties["AccessLogSettings"]["Format"]
    fields = json.loads(log_format)
    assert {"requestId", "status", "routeKey", "tenant", "latencyMs"} <= set(fields)
    assert "header" not in log_format and "querystring" not in log_format.lower()


def test_only_the_authorizer_reads_the_api_keys(translated_template):
    readers = {role for role, statement in policy_statements(translated_template) if "ApiKeysTable" in json.dumps(statement.get("Resource"))}
    assert readers == {"AuthorizerFunctionRole"}


def test_functions_take_only_roles_named_ferry_of_a_tenants_account(translated_template):
    # Destinations' role_arn: any account's role, so the resource cannot name one account, but only ferry-... roles.
    takers = {role: statement["Resource"] for role, statement in policy_statements(translated_template) if "sts:AssumeRole" in statement.get("Action", [])}
    assert set(takers) == {"ApiFunctionRole", "WorkerFunctionRole"}
    for resource in takers.values():
        assert resource == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/ferry-*"}
