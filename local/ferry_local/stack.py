"""The whole system on this machine: moto for AWS, the project's handlers for Lambda, the HTTP API on loopback.

moto's server and the HTTP API run in this process; each function's instances are
child processes (ferry_local.instances) that read their settings once, at import,
the way a Lambda cold start does, from the function's environment in the template.
One LocalStack runs per process: moto's backends are process-wide. Tests start it
on a free port.

DynamoDB, S3 and Step Functions live in moto's memory: they start empty and are
gone when the stack stops. Only the entity store (SQLite, in `state_dir`) is kept.
"""
from __future__ import annotations

import json
import os
import threading
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto.core.models import botocore_stubber
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from ferry.aws.api_keys import ApiKeysTable
from ferry.core.clock import rfc3339
from ferry.tenants.api_keys import ApiKey
from ferry_local.http_api import HttpApi
from ferry_local.instances import CallableInstance, FunctionPool, Handler, ProcessInstance
from ferry_local.context import LambdaContext
from ferry_local.lambdas import Faults, LambdaInvocations
from ferry_local.moto_patches import patch_distributed_map_tolerance, patch_dynamodb_atomicity, patch_eventbridge_lambda_targets
from ferry_local.schedules import Scheduler, with_scheduled_time
from ferry_local.template import ACCOUNT, REGION, TEMPLATE, Function, Stack


class QuietMotoRequestHandler(MotoRequestHandler):
    """moto's AWS traffic is an implementation detail of the local stack: keep it off the console."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


_running: LocalStack | None = None


def running_stack() -> LocalStack | None:
    """The LocalStack running in this process, if any."""
    return _running


class LocalStack:
    """template.yaml on this machine: moto server + Lambda handlers in-process + the HTTP API.

    Use as a context manager, or `start()` / `stop()`. `handlers` replaces functions by
    logical id with stand-ins ({"ApiFunction": callable, ...}); it is for the tests of
    the local stack itself. `faults` arms crashes from the start ({step: times}, see
    `inject_crash`). `on_ready(stack)` runs once everything serves.
    """

    def __init__(
        self,
        state_dir: Path,
        keys: dict[str, str],
        port: int = 0,
        faults: dict[str, int] | None = None,
        parameter_overrides: dict[str, Any] | None = None,
        handlers: dict[str, Handler] | None = None,
        on_ready: Callable[[LocalStack], None] | None = None,
        template: Path = TEMPLATE,
        fire_schedules: bool = True,
        log_requests: bool = True,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.keys = dict(keys)  # tenant -> API key
        self.port = port
        self.stack = Stack.from_template(template, region=REGION, parameter_overrides=parameter_overrides)
        self.faults = Faults(faults)
        self._handler_overrides = handlers or {}
        self._on_ready = on_ready
        self._moto_server: Any = None
        self._invocations: Any = None  # the WSGI layer in front of moto, once started
        self._moto_thread: threading.Thread | None = None
        self._http: HttpApi | None = None
        self._saved_environment: dict[str, str | None] | None = None  # name -> value before start (None: unset)
        self.url = ""
        self.moto_url = ""
        self.session: boto3.Session | None = None
        self._mongodb_uri = os.environ.get("MONGODB_URI", "")
        self._pools: dict[str, FunctionPool] = {}
        self._scheduler: Scheduler | None = None
        self._fire_schedules = fire_schedules
        self._log_requests = log_requests

    @property
    def sqlite_path(self) -> Path:
        return self.state_dir / "entities.sqlite3"

    @property
    def chunk_rows(self) -> int:
        return int(self.stack.parameters["ChunkRows"])

    def inject_crash(self, step: str, times: int = 1, error_type: str = "Sandbox.Timedout") -> None:
        """The next `times` worker invocations whose payload has this `step` do their work, then answer `error_type`
        (`Sandbox.Timedout`: out of time; `Runtime.ExitError`: the instance's process was killed)."""
        self.faults.crash_after(step, times, error_type)

    def inject_failure(self, step: str, times: int, error_type: str = "StoreUnavailable", chunk: int | None = None) -> None:
        """The next `times` worker invocations of `step` (of chunk number `chunk`, if given) fail with `error_type` without running."""
        self.faults.fail_before(step, times, error_type, chunk)

    def slow_down(self, step: str, times: int, seconds: float) -> None:
        """The next `times` worker invocations of `step` wait `seconds` before they run."""
        self.faults.slow_down(step, times, seconds)

    def add_tenant(self, tenant: str, key: str) -> None:
        """Registers one more API key, as the seed does for the demo tenants."""
        self.keys[tenant] = key
        self._register(tenant, key)

    def _register(self, tenant: str, key: str) -> None:
        self._api_keys().add(key, ApiKey(f"key_demo_{tenant}", tenant, f"demo key of {tenant}", rfc3339(datetime.now(UTC))))

    def _api_keys(self) -> ApiKeysTable:
        return ApiKeysTable(self.session.resource("dynamodb").Table(self.stack.physical("ApiKeysTable")))

    def _pool(self, function: Function, moto_port: int) -> FunctionPool:
        if function.logical_id in self._handler_overrides:
            handler = self._handler_overrides[function.logical_id]
            return FunctionPool(function.name, lambda: CallableInstance(handler))
        environment = {**self._aws_environment(moto_port), **function.environment, **self._store_environment()}
        return FunctionPool(function.name, lambda: ProcessInstance(function.handler, environment, list(function.code_roots)))

    def start(self) -> LocalStack:
        global _running
        if _running is not None:
            raise RuntimeError("a LocalStack already runs in this process: the handlers can serve only one")
        if botocore_stubber.enabled:
            # Under mock_aws, moto's Step Functions would call Lambda in-process instead of through this server.
            raise RuntimeError("mock_aws is active in this process; the local stack needs moto's server alone")
        _running = self
        try:
            self._start()
            if self._on_ready:
                self._on_ready(self)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        patch_distributed_map_tolerance()  # a failed chunk must fail the Map, as in AWS
        patch_dynamodb_atomicity()  # a conditional write must be atomic, as in AWS
        patch_eventbridge_lambda_targets(self._deliver_event)  # a rule's Lambda target gets its events, as in AWS
        self.state_dir.mkdir(parents=True, exist_ok=True)
        functions = self.stack.functions()
        # The pools are made once the port is known: their instances' environment points at it.
        self._invocations = invocations = LambdaInvocations(
            DomainDispatcherApplication(create_backend_app),
            self._pools,
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:",
            self.faults,
            {f.name: (f.memory_mb, f.timeout_s) for f in functions},
        )
        self._moto_server = make_server("127.0.0.1", 0, invocations, threaded=True, request_handler=QuietMotoRequestHandler)
        moto_port = self._moto_server.server_port
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        self._moto_thread = threading.Thread(target=self._moto_server.serve_forever, name="moto", daemon=True)
        self._pools.update({f.name: self._pool(f, moto_port) for f in functions})
        self._moto_thread.start()
        self._set_environment(moto_port)
        self._moto_api("config", {"stepfunctions": {"execute_state_machine": True}})
        # A session made now reads the environment just set, whatever boto3's default session saw before.
        self.session = boto3.Session()
        self.stack.create_resources(self.session)
        for tenant, key in self.keys.items():
            self._register(tenant, key)
        self._http = HttpApi(
            self.stack.http_routes(),
            {f.logical_id: self._pools[f.name].invoke for f in functions}.__getitem__,
            self.stack.arn,
            {f.logical_id: (f.memory_mb, f.timeout_s) for f in functions},
            self._log_requests,
            self._control,
        )
        self.port = self._http.start(self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        if self._fire_schedules:
            self._scheduler = Scheduler(self.stack.schedules(), self._fire)
            self._scheduler.start()

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Invoke a function of the template synchronously, as `aws lambda invoke` would; a failure raises InvocationError."""
        function = self.stack.function(logical_id)
        context = LambdaContext(function.name, self.stack.arn(logical_id), str(uuid.uuid4()), function.memory_mb, function.timeout_s)
        return self._pools[function.name].invoke(event, context)

    def _deliver_event(self, function_name: str, event: dict[str, Any]) -> None:
        """EventBridge invokes a Lambda target asynchronously: on a thread of its own, a failure only logged."""
        function = next((f for f in self.stack.functions() if f.name == function_name), None)
        if function is None or function.name not in self._pools:
            return

        def invoke() -> None:
            try:
                self.invoke(function.logical_id, event)
            except Exception as exc:
                print(f"{function.logical_id} failed on an event: {exc}", flush=True)

        threading.Thread(target=invoke, name=f"event-{function.logical_id}", daemon=True).start()

    def put_secret(self, name: str, value: dict[str, Any]) -> None:
        """A secret the functions read (under the template's FERRY_SECRETS_PREFIX), as an operator would create it."""
        prefix = self.stack.functions()[0].environment.get("FERRY_SECRETS_PREFIX", "")
        client = self.session.client("secretsmanager")
        try:
            client.create_secret(Name=prefix + name, SecretString=json.dumps(value))
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=prefix + name, SecretString=json.dumps(value))

    def sent_mails(self) -> list[dict[str, Any]]:
        """Every mail SES (moto) sent so far: source, destinations, subject, body."""
        from moto.ses.models import ses_backends

        return [
            {"source": m.source, "to": list(m.destinations.get("ToAddresses", [])), "subject": m.subject, "body": m.body}
            for m in ses_backends[ACCOUNT][REGION].sent_messages
        ]

    def peak_memory_mb(self, logical_id: str) -> float:
        """The most memory any instance of the function has held, as Lambda's Max Memory Used reports it."""
        return self._pools[self.stack.function(logical_id).name].peak_memory_mb

    def invocation_seconds(self, logical_id: str) -> list[float]:
        """The duration of each invocation of the function so far, as Lambda bills them (cold starts aside)."""
        return list(self._pools[self.stack.function(logical_id).name].durations_s)

    def aws_requests(self) -> dict[tuple[str, str], int]:
        """The AWS requests moto answered so far, by (service, operation): what request prices go by."""
        return dict(self._invocations.requests)

    def fire_schedule(self, name: str, event: dict[str, Any] | None = None, at: datetime | None = None) -> Any:
        """Fire one of the template's schedules now ("<function logical id>.<event name>"), with its Input or `event`.

        `at` is the scheduled time it is fired for (a clock the tests set): what `<aws.scheduler.scheduled-time>` says.
        """
        schedule = next((s for s in self.stack.schedules() if s.name == name), None)
        if schedule is None:
            raise KeyError(f"no schedule {name!r}; the template has {[s.name for s in self.stack.schedules()]}")
        return self._fire(schedule, with_scheduled_time(schedule.input if event is None else event, at or datetime.now(UTC)))

    def _control(self, method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        """`POST /_local/schedules/<name>[?at=<RFC 3339>]`: what `make trigger` calls on a running stack.

        `GET /_local/resources`: where this stack's AWS is and what its resources are called, for
        `python -m ferry_admin` (make key), as CloudFormation tells it of a deployed stack.
        """
        if method == "GET" and path == "resources":
            return 200, {"endpoint_url": self.moto_url, "region": REGION, "resources": {"ApiKeysTable": self.stack.physical("ApiKeysTable")}}
        name = path.removeprefix("schedules/")
        if method != "POST" or not path.startswith("schedules/"):
            return 404, {"message": "POST /_local/schedules/<name>[?at=<time>]", "schedules": [s.name for s in self.stack.schedules()]}
        try:
            at = datetime.fromisoformat(query["at"].replace("Z", "+00:00")) if query.get("at") else None
            if at is not None and at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            return 200, {"schedule": name, "answer": self.fire_schedule(name, at=at)}
        except KeyError as exc:
            return 404, {"message": str(exc).strip('"')}
        except ValueError as exc:
            return 400, {"message": f"at: {exc}"}

    def _fire(self, schedule: Any, event: dict[str, Any]) -> Any:
        """What EventBridge Scheduler does for a schedule: invoke its function, or start its state machine."""
        if schedule.function is not None:
            return self.invoke(schedule.function, event)
        sfn = self.session.client("stepfunctions")
        return sfn.start_execution(stateMachineArn=schedule.state_machine, name=f"{schedule.name}-{uuid.uuid4()}"[:80], input=json.dumps(event))

    def _moto_api(self, action: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(f"{self.moto_url}/moto-api/{action}", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def _aws_environment(self, moto_port: int) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            # moto's Step Functions interpreter calls back to localhost:$MOTO_PORT.
            "MOTO_PORT": str(moto_port),
            "POWERTOOLS_METRICS_DISABLED": "1",
        }

    def _store_environment(self) -> dict[str, str]:
        # The template's MongoDbUri is NoEcho with an empty default; a developer's own server comes from the shell.
        return {"FERRY_SQLITE_PATH": str(self.sqlite_path), "MONGODB_URI": self._mongodb_uri}

    def environment(self, moto_port: int) -> dict[str, str]:
        """What this process's environment gets (for stand-in handlers and tests): AWS pointed at moto, every function's variables."""
        env = self._aws_environment(moto_port)
        for function in self.stack.functions():
            env.update(function.environment)
        return env | self._store_environment()

    def _set_environment(self, moto_port: int) -> None:
        env = self.environment(moto_port)
        self._saved_environment = {name: os.environ.get(name) for name in env}
        os.environ.update(env)

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment = None

    def stop(self) -> None:
        global _running
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        if self._http is not None:
            self._http.stop()
            self._http = None
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        if self._moto_server is not None:
            # moto's backends are process-wide: empty them, so nothing of this stack outlives it.
            self._moto_api("reset", {})
            self._moto_server.shutdown()
            self._moto_server.server_close()
            self._moto_thread.join()
            self._moto_server = None
        if self._saved_environment is not None:
            self._restore_environment()
        if _running is self:
            _running = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
