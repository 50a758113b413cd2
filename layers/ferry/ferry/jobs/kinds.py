"""Job kinds: every capability of Ferry is a kind plugged into one engine.

A kind declares its name, its args model (whose JSON Schema GET /job-types and the
OpenAPI document show), what its attachment may be, how its args are checked beyond
their model, an optional cheap check of an inline attachment, and the family of
state machine that runs it. The worker maps (kind, step) to the step functions.

Kinds live in `ferry.<area>.kinds` modules, which register themselves when
imported; `load_kinds()` imports every such module, so a new kind adds files
and edits neither the engine nor the generic routes.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from ferry.core.errors import FieldError, InvalidRequest, pointer_of, shown
from ferry.core.jsontext import encoded_size
from ferry.jobs.ports import References


# A job is one DynamoDB item (400 KB), its args, first errors and output together: its args keep to 64 KB of JSON.
MAX_ARGS_BYTES = 64 * 1024


class AttachmentRule(StrEnum):
    REQUIRED = "required"
    NONE = "none"


@dataclass(frozen=True)
class JobKind:
    name: str
    description: str
    args_model: type[BaseModel]
    state_machine: str  # the family of state machine that runs it: "import", ...
    attachment: AttachmentRule
    media_types: tuple[str, ...] = ()  # what the attachment may be (documentation; the worker decides by content)
    # Checks the args beyond their model (e.g. a data type and an action that go together) and answers
    # what is stored; raises InvalidRequest with pointers under /args.
    check_args: Callable[[BaseModel], dict[str, Any]] = field(default=lambda args: args.model_dump(exclude_none=True))
    # A synchronous check of an inline attachment, for formats cheap to read in the API (JSON); None: the worker judges.
    check_inline: Callable[[bytes], None] | None = None
    # Checks that what the args refer to (segments, a destination) exists for the tenant; raises InvalidRequest.
    check_references: Callable[[str, dict[str, Any], References], None] | None = None
    example: dict[str, Any] = field(default_factory=dict)  # a request body, for the OpenAPI document
    # Single flight: while a job of the kind holds this lane, another is refused (Busy). The lease outlives a crash by lease_seconds.
    lane: str | None = None
    lease_seconds: int = 15 * 60

    def args(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The args of a submission, validated by the kind's model and checks, as stored on the job."""
        try:
            parsed = self.args_model.model_validate(raw)
        except ValidationError as exc:
            pointers = [FieldError(pointer_of(e["loc"], "/args"), e["msg"]) for e in exc.errors()]
            names = ", ".join(sorted({p.pointer for p in pointers}))
            raise InvalidRequest(f"Invalid args for {self.name}: {names}.", pointers) from exc
        checked = self.check_args(parsed)
        if encoded_size(checked) > MAX_ARGS_BYTES:
            raise InvalidRequest(f"The args of {self.name} take at most {MAX_ARGS_BYTES // 1024} KB of JSON.", [FieldError("/args", "too large")])
        return checked


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    if kind.name in _KINDS and _KINDS[kind.name] is not kind:
        raise ValueError(f"two job kinds named {kind.name!r}")
    _KINDS[kind.name] = kind
    return kind


@cache
def load_kinds() -> tuple[JobKind, ...]:
    """Every registered kind: imports each `ferry.<area>.kinds` module once."""
    import ferry

    for area in pkgutil.iter_modules(ferry.__path__):
        if area.ispkg and importlib.util.find_spec(f"ferry.{area.name}.kinds") is not None:
            importlib.import_module(f"ferry.{area.name}.kinds")
    return tuple(sorted(_KINDS.values(), key=lambda k: k.name))


class UnknownKind(InvalidRequest):
    def __init__(self, name: str, pointer: str = "/type") -> None:
        known = ", ".join(k.name for k in load_kinds())
        super().__init__(f"Unknown job type {shown(name)}; GET /job-types lists them: {known}.", [FieldError(pointer, f"one of: {known}")])


def kind_of(name: str, pointer: str = "/type") -> JobKind:
    """The kind named `name`; UnknownKind, naming the request's field at `pointer`, for any other name."""
    load_kinds()
    if name not in _KINDS:
        raise UnknownKind(name, pointer)
    return _KINDS[name]
