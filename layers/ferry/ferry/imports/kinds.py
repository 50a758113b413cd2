"""The import kinds: rows of one data type from a JSON array or a CSV file, and the seed-002 payments due.

All three run on the import state machine (plan, chunks, finish) and differ in how
the file is read (ferry.imports.runner picks the reader by kind). Only JSON is
cheap enough to check inline in the API; a CSV is judged by the worker.
"""
from __future__ import annotations

import codecs
import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from ferry.core import jsontext
from ferry.core.errors import FieldError, InvalidRequest, MalformedRequest, pointer, shown
from ferry.core.lazy_model import LazyModel
from ferry.datatypes.datatype import DataType
from ferry.datatypes.paths import field_paths
from ferry.datatypes.registry import REGISTRY, UnsupportedImport, named, resolve
from ferry.imports.formats.csv_table import unmapped_columns
from ferry.jobs.kinds import AttachmentRule, JobKind, register
from ferry.store.port import Action

DataTypeName = Annotated[str, Field(max_length=100), WithJsonSchema({"type": "string", "enum": sorted(REGISTRY)})]
ActionName = Annotated[str, Field(max_length=100), WithJsonSchema({"type": "string", "enum": [a.value for a in Action]})]
DOVUTI = "Dovuti"


def check_import_pair(data_type: str, action_type: str, pointer_prefix: str = "", among: tuple[str, ...] | None = None) -> tuple[DataType, Action]:
    try:
        return resolve(data_type, action_type, among)
    except UnsupportedImport as exc:
        raise InvalidRequest(str(exc), [FieldError(f"{pointer_prefix}/{exc.field}", str(exc))]) from exc


def parse_json(raw: bytes | str, what: str, pointer: str = "") -> Any:
    """JSON from a client, or a 400 that says where and why it stops being JSON."""
    try:
        return jsontext.parse(raw)
    except jsontext.JsonRefused as exc:
        where = f"line {exc.line} column {exc.column} (character {exc.position})"
        raise MalformedRequest(f"{what} is not valid JSON: {exc.reason} at {where}.", [FieldError(pointer, f"{exc.reason} at {where}")]) from exc


def encode_rows(rows: list[Any]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json_rows(content: bytes) -> None:
    if not isinstance(parse_json(content, "The attachment", "/attachment/file"), list):
        raise InvalidRequest("The attachment must be a JSON array of rows.", [FieldError("/attachment/file", "must be an array")])


def _no_blank(value: Any) -> Any:
    # An empty option means "not given": sniffed delimiter, detected encoding.
    return None if value == "" else value


class ImportArgs(LazyModel):
    """Args of an import: which data type, and what to do with each row."""

    model_config = ConfigDict(extra="forbid")

    dataType: DataTypeName = Field(description="A registered data type (GET /import/types lists them)")
    actionType: ActionName = Field(description="Create, Update, CreateOrUpdate or Replace, as the data type allows")


class CsvOptions(LazyModel):
    model_config = ConfigDict(extra="forbid")

    delimiter: Annotated[Literal[",", ";", "\t"] | None, BeforeValidator(_no_blank)] = Field(
        default=None, description="Sniffed from the file when not given"
    )
    encoding: Annotated[str | None, BeforeValidator(_no_blank)] = Field(
        default=None, max_length=40, description="utf-8 (with or without BOM) by default; latin-1 or cp1252 detected or given"
    )
    columns: dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=500, description="File header -> field path (dotted for nested fields), where they differ"
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                known = codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
            if not known._is_text_encoding:  # hex, rot13, zlib...: codecs, but not of text
                raise ValueError(f"{value!r} is not a text encoding")
        return value


class ImportCsvArgs(ImportArgs, CsvOptions):
    pass


class ImportDovutiArgs(CsvOptions):
    actionType: Literal["Create", "Update", "CreateOrUpdate"] = Field(default="CreateOrUpdate")


def _import_args(args: ImportArgs) -> dict[str, Any]:
    data_type, action = check_import_pair(args.dataType, args.actionType, "/args")
    return {**args.model_dump(exclude_none=True), "dataType": data_type.name, "actionType": action.value}


def _csv_import_args(args: ImportCsvArgs) -> dict[str, Any]:
    checked = _import_args(args)
    _check_columns(args.columns or {}, checked["dataType"])
    return checked


def _dovuti_args(args: ImportDovutiArgs) -> dict[str, Any]:
    _check_columns(args.columns or {}, DOVUTI)
    return {**args.model_dump(exclude_none=True), "dataType": DOVUTI}


def _check_columns(columns: dict[str, str], data_type: str) -> None:
    """Each target of the columns option is a field of the data type (the plan would refuse the file for it)."""
    unmapped = unmapped_columns(columns, field_paths(named(data_type).model))
    if unmapped:
        targets = ", ".join(f"{shown(name)} -> {shown(columns[name])}" for name in unmapped)
        raise InvalidRequest(
            f"columns maps to no field of {data_type}: {targets}.",
            [FieldError(pointer("/args/columns", name), f"no field {shown(columns[name])} in {data_type}") for name in unmapped],
        )


IMPORT_JSON = register(
    JobKind(
        name="import_json",
        description="Import rows of one data type; the attachment is a JSON array of rows.",
        args_model=ImportArgs,
        state_machine="import",
        attachment=AttachmentRule.REQUIRED,
        media_types=("application/json",),
        check_args=_import_args,
        check_inline=_json_rows,
        example={
            "type": "import_json",
            "args": {"dataType": "Customers", "actionType": "CreateOrUpdate"},
            "attachment": {"name": "customers.json", "mime_type": "application/json", "file": "W3sidmVuZG9ySWQiOiAiMTIzNDU2Nzg5MCIsICJuYW1lIjogIk9PTyBTdmV0bHlhY2hvayJ9XQ=="},
        },
    )
)

IMPORT_CSV = register(
    JobKind(
        name="import_csv",
        description="Import rows of one data type from a CSV file (or a zip holding one): headers name the fields.",
        args_model=ImportCsvArgs,
        state_machine="import",
        attachment=AttachmentRule.REQUIRED,
        media_types=("text/csv", "application/zip"),
        check_args=_csv_import_args,
        example={
            "type": "import_csv",
            "args": {"dataType": "Customers", "actionType": "CreateOrUpdate", "delimiter": ";"},
            "attachment": {"name": "customers.csv", "mime_type": "text/csv", "file": "dmVuZG9ySWQ7bmFtZQoxMjM0NTY3ODkwO09PTyBTdmV0bHlhY2hvawo="},
        },
    )
)

IMPORT_DOVUTI = register(
    JobKind(
        name="import_dovuti",
        description="Import the payments due to the municipality (dovuti) from a CSV file (seed 002).",
        args_model=ImportDovutiArgs,
        state_machine="import",
        attachment=AttachmentRule.REQUIRED,
        media_types=("text/csv", "application/zip"),
        check_args=_dovuti_args,
        example={
            "type": "import_dovuti",
            "args": {},
            "attachment": {"name": "dovuti.csv", "mime_type": "text/csv", "file": "https://example.org/dovuti.csv"},
        },
    )
)
