"""The local stack as a whole, with stand-in handlers: API Gateway events in, Lambda invocations from Step Functions."""
from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict

import boto3
import pytest

from ferry_local.http_api import MAX_BODY_BYTES, http_response
from ferry_local.stack import LocalStack


class InvalidInput(Exception):
    """A worker error the state machine does not retry: its Catch ends the job failed."""


class StandIns:
    """Handlers in place of the real ones; they remember what reached them."""

    def __init__(self) -> None:
        self.api_events: list[dict] = []
        self.worker_calls: dict[str, list[dict]] = defaultdict(list)  # job id -> payloads, in order
        self._lock = threading.Lock()

    def api(self, event, context):
        self.api_events.append(event)
        if event.get("pathParameters", {}).get("id") == "boom":
            raise RuntimeError("the api stand-in fails on purpose")
        return {
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-function": context.function_name},
            "cookies": ["seen=1; Path=/"],
            "body": json.dumps({"routeKey": event["routeKey"]}),
        }

    def worker(self, payload, context):
        job = payload["job"]
        with self._lock:
            self.worker_calls[job["id"]].append(payload)
        match payload["step"]:
            case "start":
                return {"proceed": True}
            case "plan":
                if job.get("invalid"):
                    raise InvalidInput("the file is not CSV")
                # The Map state reads the chunk manifest from the stack's bucket, as with the real worker.
                key = f"manifests/{job['id']}.json"
                manifest = json.dumps([{"chunk": n} for n in range(job["chunks"])])
                boto3.client("s3").put_object(Bucket=os.environ["FERRY_FILES_BUCKET"], Key=key, Body=manifest.encode())
                return {"manifest_key": key}
            case "run_chunk":
                return {"ran": payload["chunk"]}
            case "finish":
                return {"status": "finished"}
            case "fail":
                return {}


@pytest.fixture(scope="module")
def stand_ins() -> StandIns:
    return StandIns()


@pytest.fixture(scope="module")
def standin_stack(tmp_path_factory, stand_ins):
    handlers = {"ApiFunction": stand_ins.api, "WorkerFunction": stand_ins.worker}
    with LocalStack(state_dir=tmp_path_factory.mktemp("state"), keys={"tenant-a": "key-a"}, handlers=handlers) as stack:
        yield stack


def call(url, method="GET", body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def run_job(stack: LocalStack, job: dict) -> dict:
    """Starts the template's state machine for `job` and waits for the execution to end."""
    sfn = stack.session.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.stack.arn("ImportStateMachine"), name=job["id"], input=json.dumps({"job": job})
    )["executionArn"]
    deadline = time.monotonic() + 60
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end within 60 s"
        time.sleep(0.1)
    execution["history"] = sfn.get_execution_history(executionArn=arn)["events"]
    return execution


def task_errors(execution: dict) -> list[str]:
    return [e["taskFailedEventDetails"]["error"] for e in execution["history"] if e["type"] == "TaskFailed"]


def test_a_request_reaches_the_api_function_as_an_api_gateway_v2_event(standin_stack, stand_ins):
    status, headers, body = call(
        f"{standin_stack.url}/jobs/J1?tag=a&tag=b&empty=",
        "PUT",
        b"\x89PNG\x00",
        {"Content-Type": "image/png", "Authorization": "Bearer key-a", "Cookie": "c1=x; c2=y"},
    )
    assert (status, json.loads(body)) == (201, {"routeKey": "ANY /jobs/{id}"})
    assert headers["x-function"] == standin_stack.stack.physical("ApiFunction")
    assert headers["set-cookie"] == "seen=1; Path=/"
    event = stand_ins.api_events[-1]
    assert event["version"] == "2.0" and event["rawPath"] == "/jobs/J1"
    assert event["rawQueryString"] == "tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"tag": "a,b", "empty": ""}
    assert event["pathParameters"] == {"id": "J1"}
    assert event["headers"]["authorization"] == "Bearer key-a" and "cookie" not in event["headers"]
    assert event["cookies"] == ["c1=x", "c2=y"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x89PNG\x00"
    context = event["requestContext"]
    assert context["http"]["method"] == "PUT" and context["http"]["sourceIp"] == "127.0.0.1"
    assert context["routeKey"] == "ANY /jobs/{id}" and context["stage"] == "$default" and context["requestId"]


def test_json_bodies_arrive_as_text_and_literal_routes_win(standin_stack, stand_ins):
    status, _, body = call(f"{standin_stack.url}/import/types", "GET")
    assert json.loads(body) == {"routeKey": "GET /import/types"}
    call(f"{standin_stack.url}/import", "POST", b'{"a": 1}', {"Content-Type": "application/json"})
    event = stand_ins.api_events[-1]
    assert (event["routeKey"], event["isBase64Encoded"], event["body"]) == ("POST /import", False, '{"a": 1}')


def test_what_api_gateway_answers_itself(standin_stack, stand_ins):
    seen = len(stand_ins.api_events)
    status, _, body = call(f"{standin_stack.url}/import", "POST", b"x" * (MAX_BODY_BYTES + 1), {"Content-Type": "text/csv"})
    assert (status, json.loads(body)["title"]) == (413, "Request Entity Too Large")
    assert len(stand_ins.api_events) == seen
    status, headers, body = call(f"{standin_stack.url}/jobs/boom")
    assert (status, headers["content-type"], json.loads(body)["status"]) == (500, "application/problem+json", 500)
    assert headers["x-request-id"]


def test_routes_the_template_does_not_name_go_to_the_default_route(standin_stack, stand_ins):
    status, _, body = call(f"{standin_stack.url}/nothing/here")
    assert (status, json.loads(body)) == (201, {"routeKey": "$default"})
    status, _, body = call(f"{standin_stack.url}/import", "DELETE")  # the path exists, not for this method
    assert (status, json.loads(body)) == (201, {"routeKey": "$default"})


def test_function_answers_become_http_as_api_gateway_makes_them():
    # Payload 2.0: JSON without a statusCode is the body of a 200 application/json answer.
    assert http_response({"id": 1}) == (200, [("content-type", "application/json")], b'{"id": 1}')
    status, headers, body = http_response(
        {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(b"PK\x03").decode(), "multiValueHeaders": {"Vary": ["a", "b"]}}
    )
    assert (status, headers, body) == (200, [("vary", "a"), ("vary", "b")], b"PK\x03")


def test_the_state_machine_runs_the_worker_through_the_lambda_invoke_api(standin_stack, stand_ins):
    job_id = f"job-{uuid.uuid4().hex}"
    execution = run_job(standin_stack, {"id": job_id, "chunks": 2})
    assert execution["status"] == "SUCCEEDED", execution
    steps = [call["step"] for call in stand_ins.worker_calls[job_id]]
    assert steps[:2] == ["start", "plan"] and steps[-1] == "finish"
    assert sorted(steps[2:-1]) == ["run_chunk", "run_chunk"]


def test_a_worker_exception_reaches_catch_under_its_class_name(standin_stack, stand_ins):
    job_id = f"job-{uuid.uuid4().hex}"
    execution = run_job(standin_stack, {"id": job_id, "invalid": True})
    assert execution["status"] == "FAILED"
    assert task_errors(execution) == ["InvalidInput"]  # not retried: only Lambda's own errors are
    fail = stand_ins.worker_calls[job_id][-1]
    assert fail["step"] == "fail" and fail["failure"]["plan"]["Error"] == "InvalidInput"
    cause = json.loads(fail["failure"]["plan"]["Cause"])
    assert cause["errorType"] == "InvalidInput" and cause["errorMessage"] == "the file is not CSV"


def test_an_injected_crash_runs_the_step_then_fails_it_and_the_retry_succeeds(standin_stack, stand_ins):
    job_id = f"job-{uuid.uuid4().hex}"
    standin_stack.inject_crash(step="run_chunk", times=1)
    execution = run_job(standin_stack, {"id": job_id, "chunks": 1})
    assert execution["status"] == "SUCCEEDED", execution
    # The crashed attempt ran the handler (its work is done), then Retry ran it again; the chunks
    # run in the distributed Map's child executions, so the parent's history does not show the error.
    assert [call["step"] for call in stand_ins.worker_calls[job_id]].count("run_chunk") == 2


def test_a_second_stack_in_the_same_process_is_refused(standin_stack, tmp_path):
    with pytest.raises(RuntimeError, match="already runs"):
        LocalStack(state_dir=tmp_path, keys={}).start()
    assert call(f"{standin_stack.url}/import/types")[0] == 201  # the running one is untouched
