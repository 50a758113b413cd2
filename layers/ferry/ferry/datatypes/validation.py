"""Validation of import rows: the valid ones become WriteRows, the others RowErrors naming row and field.

This is the hot path of an import. The whole chunk is validated in one call of
pydantic-core (no Python per row except computing keys), and since the models
are TypedDicts its result is already the documents; only a chunk with errors
costs a second call, over its valid rows.

A JSON chunk is validated straight from its bytes (`validate_json_rows`): one pass
that parses and validates, about the time `json.loads` alone takes, where parsing
first and validating the Python values after took twice that. Only a chunk with a
failing row is also parsed with `json`: that path is `validate_rows`, exactly as for
rows read otherwise, so errors (pydantic words a few messages differently for JSON
input) and the rejected rows' raw form come out the same.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from ferry.datatypes.datatype import DataType
from ferry.store.port import WriteRow


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 0-based position of the row in the job's input
    field: str  # dotted path inside the row ("location.geoCoordinate.latitude", "images.0.content"); "" for the whole row
    code: str  # pydantic's error type ("missing", "extra_forbidden", ...) or "not_an_object"
    message: str


# Caching only member names: values (ids, names) are mostly unique, so caching them costs more than it saves (~7%).
_ROWS_CONFIG = ConfigDict(cache_strings="keys")


@cache
def _rows_adapter(model: type) -> TypeAdapter[list[dict[str, Any]]]:
    return TypeAdapter(list[model], config=_ROWS_CONFIG)  # type: ignore[valid-type]


def validate_rows(data_type: DataType, rows: list[Any], first_row: int) -> tuple[list[WriteRow], list[RowError]]:
    """Validate a chunk of parsed JSON rows; `first_row` is the position of rows[0] in the job's input.

    Each WriteRow's doc holds only the fields its row sent (so Update and
    CreateOrUpdate set nothing else), as JSON values.
    """
    adapter = _rows_adapter(data_type.model)
    errors: list[RowError] = []
    try:
        docs = adapter.validate_python(rows)
        positions: range | list[int] = range(len(rows))
    except ValidationError as exc:
        errors = [_row_error(error, first_row) for error in exc.errors(include_url=False, include_input=False)]
        refused = {error.row - first_row for error in errors}
        positions = [i for i in range(len(rows)) if i not in refused]
        docs = adapter.validate_python([rows[i] for i in positions])
    return _write_rows(data_type, docs, positions, first_row), errors


def validate_json_rows(data_type: DataType, raw: bytes, first_row: int) -> tuple[list[WriteRow], list[RowError], list[Any] | None]:
    """Validate a chunk given as the UTF-8 bytes of a JSON array of rows; `first_row` as for validate_rows.

    Answers the valid rows, the errors, and the rows as parsed when some failed
    (None when all passed: no row needs its raw form then).
    """
    adapter = _rows_adapter(data_type.model)
    try:
        docs = adapter.validate_json(raw)
    except ValidationError:
        rows = json.loads(raw)
        return (*validate_rows(data_type, rows, first_row), rows)
    return _write_rows(data_type, docs, range(len(docs)), first_row), [], None


def _write_rows(data_type: DataType, docs: list[dict[str, Any]], positions: range | list[int], first_row: int) -> list[WriteRow]:
    key_of, set_of = data_type.key_of, data_type.set_of
    if data_type.set_fields:
        return [WriteRow(first_row + i, key_of(doc), doc, set_of(doc)) for i, doc in zip(positions, docs)]
    return [WriteRow(first_row + i, key_of(doc), doc) for i, doc in zip(positions, docs)]


def _row_error(error: Any, first_row: int) -> RowError:
    index, *path = error["loc"]
    if not path and error["type"] == "dict_type":
        return RowError(first_row + index, "", "not_an_object", "a row must be a JSON object")
    return RowError(first_row + index, ".".join(str(part) for part in path), error["type"], error["msg"])
