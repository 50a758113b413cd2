"""AWS over its limits or out of reach: the API answers a 503 problem with Retry-After, not a 500;
the worker raises AwsBusy, which the state machines retry.

The functions run in a child interpreter whose AWS endpoint is a server on loopback that
answers every call as a throttled DynamoDB does, or a port nobody listens on.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_API = """
import json
from ferry_local.context import LambdaContext
from ferry_api.app import lambda_handler

event = {
    "version": "2.0", "rawPath": "/jobs", "rawQueryString": "", "headers": {},
    "requestContext": {"http": {"method": "GET", "path": "/jobs"}, "stage": "$default", "requestId": "r-1",
                       "authorizer": {"lambda": {"tenant": "acme"}}},
}
context = LambdaContext("ApiFunction", "arn:aws:lambda:us-east-1:123456789012:function:api", "r-1")
print(json.dumps(lambda_handler(event, context)))
"""

_AUTHORIZER = """
import json
from ferry_local.context import LambdaContext
from ferry_authorizer.handler import lambda_handler
from ferry_api.app import lambda_handler as api

context = LambdaContext("AuthorizerFunction", "arn:aws:lambda:us-east-1:123456789012:function:authorizer", "r-3")
found = lambda_handler({"headers": {"authorization": "Bearer fy_some_key"}}, context)
event = {
    "version": "2.0", "rawPath": "/jobs", "rawQueryString": "", "headers": {},
    "requestContext": {"http": {"method": "GET", "path": "/jobs"}, "stage": "$default", "requestId": "r-3",
                       "authorizer": {"lambda": found["context"]}},
}
print(json.dumps(api(event, context)))
"""

_WORKER = """
import json
from ferry_local.context import LambdaContext
from ferry_worker.handler import lambda_handler

context = LambdaContext("WorkerFunction", "arn:aws:lambda:us-east-1:123456789012:function:worker", "r-2")
try:
    lambda_handler({"step": "start", "job": {"tenant": "acme", "id": "01JOB", "kind": "import_json"}}, context)
except Exception as exc:
    print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}))
"""

# A step that did its work: what meets the throttled table is the announcement of the job's end that follows it.
_WORKER_ANNOUNCING = _WORKER.replace(
    "context = ", "import ferry_worker.handler as handler\nhandler.STEPS[('import_json', 'start')] = lambda event, runtime: {}\ncontext = ", 1
)


class _Throttled(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).calls += 1
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate of requests exceeds the allowed throughput."}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _answer(endpoint: str, child: str = _API) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FERRY_", "MONGODB_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("layers/ferry", "functions/api", "functions/authorizer", "functions/worker", "local")),
        "FERRY_JOBS_TABLE": "jobs", "FERRY_API_KEYS_TABLE": "keys", "FERRY_FILES_BUCKET": "files", "FERRY_SQLITE_PATH": "/tmp/ferry-unused.sqlite3",
        "FERRY_STATE_MACHINES": "import=arn:aws:states:us-east-1:123456789012:stateMachine:x",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard",
    })
    done = subprocess.run([sys.executable, "-c", child], env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def throttling_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttled)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _is_busy_problem(answer: dict) -> None:
    assert answer["statusCode"] == 503, answer
    assert answer["headers"]["Content-Type"] == "application/problem+json" and answer["headers"]["Retry-After"] == "2"
    body = json.loads(answer["body"])
    assert (body["type"], body["status"], body["instance"]) == ("/problems/service-unavailable", 503, "/jobs")
    assert "Traceback" not in answer["body"]


def test_a_throttled_table_is_a_503_to_retry(throttling_endpoint):
    _is_busy_problem(_answer(throttling_endpoint))
    assert _Throttled.calls >= 1, "the API really asked the throttling endpoint"


def test_an_unreachable_aws_is_a_503_to_retry():
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _is_busy_problem(_answer(f"http://127.0.0.1:{port}"))


def test_a_worker_step_that_meets_a_throttled_table_raises_the_name_the_state_machines_retry(throttling_endpoint):
    failure = _answer(throttling_endpoint, _WORKER)
    assert failure["errorType"] == "AwsBusy" and "ThrottlingException" in failure["errorMessage"], failure
    for machine in (REPO / "statemachines").glob("*.asl.json"):
        text = machine.read_text()
        assert text.count('"AwsBusy"') == text.count('"StoreUnavailable"') >= 4, machine.name


def test_the_announcement_after_a_step_that_meets_a_throttled_table_raises_the_name_retried_too(throttling_endpoint):
    # Not the raw ClientError, which the step's Catch would take for a failure of the job.
    failure = _answer(throttling_endpoint, _WORKER_ANNOUNCING)
    assert failure["errorType"] == "AwsBusy" and "GetItem" in failure["errorMessage"], failure


def test_a_throttled_secret_read_is_busy_though_powertools_wraps_it():
    # A destination's secrets are read through Powertools parameters, which raise GetParameterError in place of the SDK's.
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from botocore.stub import Stubber

    from ferry.aws.busy import described, is_busy
    from ferry.aws.secrets import SecretsManagerSecrets

    client = boto3.client("secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    secrets = SecretsManagerSecrets(client, "ferry/")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "ThrottlingException", "Rate exceeded")
        stub.add_client_error("get_secret_value", "ResourceNotFoundException", "no such secret")
        with pytest.raises(Exception) as throttled:
            secrets.get("acme/destination/01D")
        assert is_busy(throttled.value) and described(throttled.value) == "ThrottlingException on GetSecretValue"
        with pytest.raises(parameters.GetParameterError):  # anything else as before
            secrets.get("acme/destination/01D")


def test_a_throttled_read_of_the_mongodb_secret_is_busy_not_unreadable(monkeypatch):
    # Read again when the store reconnects after a rotation: a throttled read must be retried, not fail the job.
    from aws_lambda_powertools.utilities import parameters
    from botocore.exceptions import ClientError

    from ferry.aws import secrets
    from ferry.aws.busy import is_busy

    def throttled(*args, **kwargs):
        try:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetSecretValue")
        except ClientError as exc:
            raise parameters.GetParameterError(str(exc))

    monkeypatch.setattr(secrets.parameters, "get_secret", throttled)
    with pytest.raises(ClientError) as raised:
        secrets.mongodb_uri("prod/mongodb-uri")
    assert is_busy(raised.value)


def test_a_throttled_keys_table_is_a_503_to_retry_not_the_gateways_bare_500(throttling_endpoint):
    _is_busy_problem(_answer(throttling_endpoint, _AUTHORIZER))
