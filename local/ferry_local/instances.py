"""Lambda execution environments on this machine: an instance serves one event at a time.

Lambda gives each execution environment one event at a time and keeps it warm for
the next. Handlers rely on that: Powertools' resolver keeps the current event on the
app object, settings and clients live in module globals. So here each instance of a
real handler is a child process of its own (`python -m ferry_local.runtime`), with the
function's own environment and code roots (its CodeUri and its layers, as Lambda
mounts them), started on first need and kept warm. A function has at most
`max_instances`; an event waits for a free one. An instance that runs past the
function's timeout is killed and the event answered `Sandbox.Timedout`, as Lambda does.

Stand-in handlers (plain callables, for the local stack's own tests) run in this
process, one event at a time per instance all the same.
"""
from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from ferry_local.context import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]

_FRAME = struct.Struct(">Q")
# Variables a bare Lambda environment has too; nothing else leaks from the developer's shell.
# Lambda gives an instance's init (the handler's import) 10 s of its own, apart from the function's timeout.
INIT_LIMIT_S = 10.0
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")


class InvocationError(Exception):
    """The function answered an error, as Lambda reports it (errorType, errorMessage, stackTrace)."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []

    def payload(self) -> dict[str, Any]:
        return {"errorType": self.error_type, "errorMessage": self.message, "stackTrace": self.stack_trace}


class Instance(Protocol):
    @property
    def alive(self) -> bool:
        """Whether it can take an event: not closed, and (a process) not exited, while idle too."""

    def invoke(self, event: dict[str, Any], context: LambdaContext) -> Any: ...

    def peak_memory_mb(self) -> float:
        """The most memory the instance has held so far (what Lambda reports as Max Memory Used)."""

    def close(self) -> None: ...


def write_frame(stream: Any, value: Any) -> None:
    data = json.dumps(value).encode()
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def read_frame(fd: int) -> Any:
    """One frame from a file descriptor; None at end of file."""
    header = _read_exact(fd, _FRAME.size)
    if header is None:
        return None
    body = _read_exact(fd, _FRAME.unpack(header)[0])
    return None if body is None else json.loads(body)


def _read_exact(fd: int, size: int) -> bytes | None:
    parts, remaining = [], size
    while remaining:
        part = os.read(fd, min(remaining, 1 << 20))
        if not part:
            return None
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


class ProcessInstance:
    """One warm execution environment: a child process that imported the handler once."""

    def __init__(self, handler: str, environment: dict[str, str], code_roots: list[Path]) -> None:
        env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        env.update(environment)
        # The function's code and its layers, then this package for the runtime loop itself.
        env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in code_roots), str(Path(__file__).resolve().parents[1])])
        env["PYTHONUNBUFFERED"] = "1"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ferry_local.runtime", handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._alive = True
        self._initialized = False

    @property
    def alive(self) -> bool:
        # A process that died between events (killed, out of memory) is gone: Lambda never hands it the next event.
        return self._alive and self._process.poll() is None

    def invoke(self, event: dict[str, Any], context: LambdaContext) -> Any:
        try:
            write_frame(self._process.stdin, {"event": event, "context": asdict(context)})
        except (BrokenPipeError, OSError):
            self._died()
        fd = self._process.stdout.fileno()
        if not self._initialized:
            # The runtime says when its import is done: the event's time starts then, as in Lambda.
            self._wait(fd, INIT_LIMIT_S, f"RequestId: {context.aws_request_id} Error: Init timed out after {INIT_LIMIT_S:.2f} seconds")
            if read_frame(fd) is None:
                self._died()
            self._initialized = True
        self._wait(fd, context.timeout_s, f"RequestId: {context.aws_request_id} Error: Task timed out after {context.timeout_s:.2f} seconds")
        answer = read_frame(fd)
        if answer is None:
            self._died()
        if "error" in answer:
            raise InvocationError(**answer["error"])
        return answer["result"]

    def _wait(self, fd: int, seconds: float, message: str) -> None:
        ready, _, _ = select.select([fd], [], [], seconds)
        if not ready:
            self.close()
            raise InvocationError("Sandbox.Timedout", message)

    def peak_memory_mb(self) -> float:
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return 0.0  # gone, or no /proc on this system
        return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0.0)

    def _died(self) -> None:
        self._alive = False
        code = self._process.wait(timeout=5)
        raise InvocationError("Runtime.ExitError", f"Runtime exited with error: exit status {code}")

    def close(self) -> None:
        self._alive = False
        if self._process.poll() is None:
            try:
                self._process.stdin.close()
                self._process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._process.stdout.close()


class CallableInstance:
    """A stand-in handler, called in this process."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.alive = True

    def invoke(self, event: dict[str, Any], context: LambdaContext) -> Any:
        try:
            return self._handler(event, context)
        except Exception as exc:
            raise InvocationError(type(exc).__name__, str(exc)) from exc

    def peak_memory_mb(self) -> float:
        return 0.0  # it shares this process: nothing of its own to measure

    def close(self) -> None:
        self.alive = False


@dataclass
class FunctionPool:
    """The instances of one function: at most `max_instances`, each serving one event at a time."""

    name: str
    new_instance: Callable[[], Instance]
    max_instances: int = 4

    def __post_init__(self) -> None:
        self._idle: list[Instance] = []
        self._count = 0
        self.peak_memory_mb = 0.0  # the most any instance of the function has held
        self.durations_s: list[float] = []  # each invocation's run in its instance, what Lambda bills as Duration
        self._closed = False
        self._changed = threading.Condition()

    def invoke(self, event: dict[str, Any], context: LambdaContext) -> Any:
        instance = self._acquire()
        started = time.perf_counter()
        try:
            return instance.invoke(event, context)
        finally:
            self.durations_s.append(time.perf_counter() - started)
            self._release(instance)

    def _acquire(self) -> Instance:
        with self._changed:
            while not self._idle and self._count >= self.max_instances and not self._closed:
                self._changed.wait()
            if self._closed:
                raise InvocationError("ResourceNotFoundException", f"Function {self.name} is shut down")
            while self._idle:
                instance = self._idle.pop()
                if instance.alive:
                    return instance
                self._count -= 1  # it died while idle: the event gets a new instance
                instance.close()
            self._count += 1
        try:
            return self.new_instance()  # a cold start, outside the lock: other events go on meanwhile
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise

    def _release(self, instance: Instance) -> None:
        peak = instance.peak_memory_mb() if instance.alive else 0.0
        with self._changed:
            self.peak_memory_mb = max(self.peak_memory_mb, peak)
            if instance.alive and not self._closed:
                self._idle.append(instance)
            else:
                self._count -= 1
                instance.close()
            self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._changed.notify_all()
        for instance in idle:
            instance.close()
