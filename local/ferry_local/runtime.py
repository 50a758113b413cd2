"""The runtime loop of one local Lambda instance: `python -m ferry_local.runtime package.module.function`.

Imports the handler once (the cold start) and says so in a first frame, then answers
one event at a time, read from stdin and answered on the original stdout, in frames
(ferry_local.instances).
What the handler prints goes to stderr, the instance's log. An exception during the
import is this instance's init error: every event is answered with it, as Lambda does.
"""
from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

from ferry_local.context import LambdaContext
from ferry_local.instances import read_frame, write_frame


def _error(exc: BaseException, error_type: str | None = None, prefix: str = "") -> dict[str, Any]:
    return {
        "error": {
            "error_type": error_type or type(exc).__name__,
            "message": prefix + str(exc),
            "stack_trace": traceback.format_tb(exc.__traceback__),
        }
    }


def main(handler_path: str) -> None:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the handler's prints and logs go to the log, never into the answers
    module_name, _, function_name = handler_path.rpartition(".")
    init_error: dict[str, Any] | None = None
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:
        traceback.print_exc()
        init_error = _error(exc, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': ")
    write_frame(answers, {"initialized": init_error is None})
    while (request := read_frame(sys.stdin.fileno())) is not None:
        if init_error is not None:
            write_frame(answers, init_error)
            continue
        try:
            result = handler(request["event"], LambdaContext(**request["context"]))
        except Exception as exc:
            write_frame(answers, _error(exc))
            continue
        try:
            write_frame(answers, {"result": result})
        except (TypeError, ValueError) as exc:  # json.dumps refused it before anything was written
            write_frame(answers, _error(exc, "Runtime.MarshalError", "Unable to marshal response: "))

if __name__ == "__main__":
    main(sys.argv[1])
