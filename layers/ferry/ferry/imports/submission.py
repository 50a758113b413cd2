"""Checks an import before anything is stored: the dataType/actionType pair and the rows' container.

Rows themselves are validated by the worker, chunk by chunk, and rejected one by one.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from ferry.core import jsontext
from ferry.datatypes.registry import DataType, UnsupportedImport, resolve
from ferry.core.errors import FieldError, InvalidRequest, MalformedRequest
from ferry.store.port import Action

IMPORT_JOB_TYPE = "import_json"


class ImportArgs(BaseModel):
    """Args of an import job: which data type, and what to do with each row."""

    model_config = ConfigDict(extra="forbid")

    dataType: str
    actionType: str


def check_import_pair(data_type: str, action_type: str, pointer_prefix: str = "") -> tuple[DataType, Action]:
    try:
        return resolve(data_type, action_type)
    except UnsupportedImport as exc:
        raise InvalidRequest(str(exc), [FieldError(f"{pointer_prefix}/{exc.field}", str(exc))]) from exc


def parse_json(raw: bytes | str, what: str, pointer: str = "") -> Any:
    """JSON from a client, or a 400 that says where and why it stops being JSON."""
    try:
        return jsontext.parse(raw)
    except jsontext.JsonRefused as exc:
        where = f"line {exc.line} column {exc.column} (character {exc.position})"
        raise MalformedRequest(f"{what} is not valid JSON: {exc.reason} at {where}.", [FieldError(pointer, f"{exc.reason} at {where}")]) from exc


def rows_of(value: Any, pointer: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest("The rows must be a JSON array of objects.", [FieldError(pointer, "must be an array")])
    return value


def encode_rows(rows: list[Any]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
