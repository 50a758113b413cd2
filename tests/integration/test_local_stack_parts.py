"""The local stack's stand-ins for API Gateway and Lambda, each with a stand-in handler."""
from __future__ import annotations

import base64
import concurrent.futures
import json
import urllib.error
import urllib.request

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from ferry_local.http_api import MAX_BODY_BYTES, HttpApi
from ferry_local.instances import CallableInstance, FunctionPool
from ferry_local.lambdas import Faults, LambdaInvocations
from ferry_local.template import Route


@pytest.fixture
def api():
    seen = []

    def handler(event, context):
        seen.append(event)
        return {"statusCode": 201, "headers": {"x-answer": "yes"}, "body": json.dumps({"ok": True})}

    server = HttpApi([Route("GET", "/import/types", "Fn"), Route("ANY", "/jobs/{id}", "Fn")], lambda _: handler, lambda _: "arn")
    port = server.start(0)
    yield f"http://127.0.0.1:{port}", seen
    server.stop()


def call(url, method="GET", body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_a_request_reaches_the_handler_as_an_api_gateway_v2_event(api):
    url, seen = api
    status, headers, body = call(f"{url}/jobs/J1?a=1&a=2&b=x", "POST", b"\x00\x01binary", {"Content-Type": "application/octet-stream", "X-Api-Key": "k"})
    assert status == 201 and headers["x-answer"] == "yes" and json.loads(body) == {"ok": True}
    [event] = seen
    assert event["version"] == "2.0" and event["routeKey"] == "ANY /jobs/{id}"
    assert event["pathParameters"] == {"id": "J1"}
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["headers"]["x-api-key"] == "k"
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\x00\x01binary"
    assert event["requestContext"]["http"]["method"] == "POST" and event["requestContext"]["requestId"]


def test_unknown_routes_and_oversized_bodies_are_answered_by_the_gateway_as_problems(api):
    url, seen = api
    status, headers, body = call(f"{url}/nothing")
    assert status == 404 and headers["content-type"] == "application/problem+json" and headers["x-request-id"]
    status, headers, body = call(f"{url}/jobs/J1", "POST", b"x" * (MAX_BODY_BYTES + 1))
    assert status == 413 and json.loads(body)["status"] == 413 and headers["x-request-id"]
    assert seen == []


def test_lambda_invocations_are_answered_by_the_handler_and_errors_named_like_lambda():
    class Boom(Exception):
        pass

    def worker(event, context):
        if event.get("step") == "explode":
            raise Boom("no")
        return {"echo": event, "function": context.function_name}

    def moto(environ, start_response):
        return Response("moto", 200)(environ, start_response)

    faults = Faults()
    pools = {"worker": FunctionPool("worker", lambda: CallableInstance(worker))}
    client = Client(LambdaInvocations(moto, pools, "arn:aws:lambda:us-east-1:123456789012:function:", faults))
    path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aworker/invocations"
    ok = client.post(path, data=json.dumps({"step": "run"}))
    assert ok.status_code == 200 and ok.json == {"echo": {"step": "run"}, "function": "worker"}
    failed = client.post(path, data=json.dumps({"step": "explode"}))
    assert failed.headers["X-Amz-Function-Error"] == "Unhandled"
    assert failed.json["errorType"] == "Boom" and failed.json["errorMessage"] == "no"
    faults.crash_after("run", 1)
    assert client.post(path, data=json.dumps({"step": "run"})).json["errorType"] == "Sandbox.Timedout"
    assert "X-Amz-Function-Error" not in client.post(path, data=json.dumps({"step": "run"})).headers
    faults.fail_before("run", 1, "StoreUnavailable")
    assert client.post(path, data=json.dumps({"step": "run"})).json["errorType"] == "StoreUnavailable"
    assert client.get("/anything-else").get_data() == b"moto"


def test_the_aws_requests_moto_answers_are_counted_by_service_and_operation_and_invocations_timed():
    def moto(environ, start_response):
        return Response("moto", 200)(environ, start_response)

    pools = {"worker": FunctionPool("worker", lambda: CallableInstance(lambda event, context: {}))}
    invocations = LambdaInvocations(moto, pools, "arn:aws:lambda:us-east-1:123456789012:function:", Faults())
    client = Client(invocations)
    scope = "Credential=AKID/20261122/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=x"
    for _ in range(2):
        client.post("/", headers={"Authorization": "AWS4-HMAC-SHA256 " + scope.format("dynamodb"), "X-Amz-Target": "DynamoDB_20120810.UpdateItem"})
    client.get("/files/jobs/x/chunk-0.json", headers={"Authorization": "AWS4-HMAC-SHA256 " + scope.format("s3")})
    client.put("/files/uploads/u", query_string="AWSAccessKeyId=AKID&Signature=x%2Fy&Expires=1")  # a presigned upload
    client.post("/2015-03-31/functions/worker/invocations", data=json.dumps({"step": "run"}))
    assert dict(invocations.requests) == {("dynamodb", "UpdateItem"): 2, ("s3", "GET"): 1, ("s3", "PUT"): 1}
    assert len(pools["worker"].durations_s) == 1  # the invocation is Lambda's, not moto's


def test_a_function_instance_serves_one_event_at_a_time():
    import threading
    import time

    from ferry_local.context import LambdaContext

    busy: set[int] = set()
    overlaps: list[int] = []
    lock = threading.Lock()

    def handler(event, context):
        with lock:
            if id(context.instance) in busy:
                overlaps.append(event["n"])
            busy.add(id(context.instance))
        time.sleep(0.01)
        with lock:
            busy.discard(id(context.instance))
        return event["n"]

    made: list[object] = []

    class Recording(CallableInstance):
        def invoke(self, event, context):
            context.instance = self
            return super().invoke(event, context)

    def new_instance():
        instance = Recording(handler)
        made.append(instance)
        return instance

    pool = FunctionPool("fn", new_instance, max_instances=3)
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as workers:
        answers = list(workers.map(lambda n: pool.invoke({"n": n}, LambdaContext("fn", "arn", str(n))), range(60)))
    assert answers == list(range(60))
    assert overlaps == [] and 1 <= len(made) <= 3


def test_a_procedure_schedule_exists_only_when_its_parameters_say_when_and_for_whom():
    from ferry_local.template import Stack

    always = ["SweeperFunction.Sweep", "SchedulerFunction.Tick"]
    assert sorted(s.name for s in Stack.from_template().schedules()) == sorted(always)
    stack = Stack.from_template(parameter_overrides={"ScheduleExportToErp": "rate(1 hour)", "ProcedureScheduleTenant": "acme"})
    [schedule] = [s for s in stack.schedules() if s.name == "ExportToErpSchedule"]
    assert schedule.expression == "rate(1 hour)" and schedule.timezone == "Europe/Rome"
    assert schedule.input == {"kind": "procedure", "tenant": "acme", "args": {"procedure": "ExportToErp"}}
    assert schedule.state_machine == stack.arn("ProcedureStateMachine")
    no_tenant = Stack.from_template(parameter_overrides={"ScheduleExportToErp": "rate(1 hour)"})
    assert sorted(s.name for s in no_tenant.schedules()) == sorted(always)


def test_an_instances_init_has_its_own_time_apart_from_the_functions_timeout(tmp_path):
    from ferry_local.context import LambdaContext
    from ferry_local.instances import InvocationError, ProcessInstance

    (tmp_path / "slow_start.py").write_text(
        "import time\ntime.sleep(1.5)  # a heavy import\n\n"
        "def handler(event, context):\n    time.sleep(event['seconds'])\n    return 'done'\n"
    )
    instance = ProcessInstance("slow_start.handler", {}, [tmp_path])
    try:
        # One second of timeout: the 1.5 s import does not count against it, as in Lambda.
        assert instance.invoke({"seconds": 0}, LambdaContext("fn", "arn", "r1", 128, 1)) == "done"
        with pytest.raises(InvocationError) as timed_out:
            instance.invoke({"seconds": 2}, LambdaContext("fn", "arn", "r2", 128, 1))
        assert timed_out.value.error_type == "Sandbox.Timedout"
        assert not instance.alive
    finally:
        instance.close()


def test_an_instance_that_died_while_idle_is_replaced_before_the_next_event(tmp_path):
    import os
    import signal
    from pathlib import Path

    from ferry_local.context import LambdaContext
    from ferry_local.instances import ProcessInstance

    (tmp_path / "pid.py").write_text("import os\n\ndef handler(event, context):\n    return os.getpid()\n")
    pool = FunctionPool("fn", lambda: ProcessInstance("pid.handler", {}, [tmp_path]), max_instances=1)
    try:
        first = pool.invoke({}, LambdaContext("fn", "arn", "r1", 128, 10))
        os.kill(first, signal.SIGKILL)  # killed between events (the OOM killer, an operator)
        while Path(f"/proc/{first}/stat").read_text().split()[2] != "Z":  # exited, not yet reaped
            pass
        # Lambda hands the next event to a new environment, never to the dead one.
        second = pool.invoke({}, LambdaContext("fn", "arn", "r2", 128, 10))
        assert second != first
    finally:
        pool.close()
