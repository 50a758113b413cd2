"""The whole system in one process: moto for AWS, the project's handlers for Lambda, the HTTP API on loopback.

Handlers read their settings once, at import (cold start), from the environment this
stack sets; so one LocalStack runs per process. Tests start it on a free port.
"""
from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from ferry_local.http_api import HttpApi
from ferry_local.lambdas import Faults, LambdaInvocations, load_handler
from ferry_local.template import ACCOUNT, TEMPLATE, Stack

REGION = "us-east-1"


class QuietMotoRequestHandler(MotoRequestHandler):
    """moto's AWS traffic is an implementation detail of the local stack: keep it off the console."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass
_running: LocalStack | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalStack:
    def __init__(
        self,
        state_dir: Path,
        keys: dict[str, str],
        port: int = 0,
        parameters: dict[str, str] | None = None,
        handlers: dict[str, Callable[[dict, Any], Any]] | None = None,
        template: Path = TEMPLATE,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.keys = keys  # tenant -> API key
        self.port = port
        self.stack = Stack.from_template(template, name="ferry-local", region=REGION, parameters=parameters or {})
        self._handler_overrides = handlers or {}
        self.faults = Faults()
        self._moto_server: Any = None
        self._http = HttpApi(self.stack.http_routes(), self._handler, self.stack.arn)
        self.url = ""
        self.moto_url = ""

    @property
    def sqlite_path(self) -> Path:
        return self.state_dir / "entities.sqlite3"

    @property
    def chunk_rows(self) -> int:
        return int(self.stack.parameters["ChunkRows"])

    def inject_crash(self, step: str, times: int = 1) -> None:
        """The next `times` invocations of that worker step do their work, then 'die' before answering."""
        self.faults.crash_after(step, times)

    def _handler(self, logical_id: str) -> Callable[[dict, Any], Any]:
        return self._handler_overrides.get(logical_id) or load_handler(self.stack.function(logical_id).handler)

    def start(self) -> LocalStack:
        global _running
        if _running is not None:
            raise RuntimeError("one LocalStack per process: handlers read their settings once, at import")
        _running = self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        moto_port = free_port()
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        self._set_environment(moto_port)
        invocations = LambdaInvocations(
            DomainDispatcherApplication(create_backend_app),
            {f.name: (lambda lid=f.logical_id: self._handler(lid)) for f in self.stack.functions()},
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:",
            self.faults,
        )
        self._moto_server = make_server("127.0.0.1", moto_port, invocations, threaded=True, request_handler=QuietMotoRequestHandler)
        threading.Thread(target=self._moto_server.serve_forever, name="moto", daemon=True).start()
        # Step Functions runs the state machine for real only when asked to.
        requests.post(f"{self.moto_url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10)
        self.stack.create_resources(boto3)
        self._register_keys()
        self.port = self._http.start(self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def _set_environment(self, moto_port: int) -> None:
        env = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            # moto's Step Functions interpreter calls back to localhost:$MOTO_PORT.
            "MOTO_PORT": str(moto_port),
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
            "FERRY_SQLITE_PATH": str(self.sqlite_path),
        }
        for function in self.stack.functions():
            env.update(function.environment)
        env["MONGODB_URI"] = os.environ.get("MONGODB_URI", "")
        os.environ.update(env)

    def _register_keys(self) -> None:
        from ferry.auth import ApiKeys

        keys = ApiKeys(boto3.resource("dynamodb").Table(self.stack.physical("ApiKeysTable")))
        for tenant, key in self.keys.items():
            keys.register(tenant, key, f"demo key of {tenant}")

    def add_tenant(self, tenant: str, key: str) -> None:
        self.keys[tenant] = key
        from ferry.auth import ApiKeys

        ApiKeys(boto3.resource("dynamodb").Table(self.stack.physical("ApiKeysTable"))).register(tenant, key, f"key of {tenant}")

    def stop(self) -> None:
        global _running
        self._http.stop()
        if self._moto_server is not None:
            self._moto_server.shutdown()
            self._moto_server.server_close()
        _running = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
