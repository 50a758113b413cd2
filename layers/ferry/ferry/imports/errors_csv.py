"""The rejected rows of an import as a CSV a user can fix and import again.

One line per rejected row: the row as it was sent first (a CSV file's own columns
and cells; a JSON row's fields as a CSV import reads them back: a nested object's in
dotted columns, a list of values in one cell joined with `|`, a list of objects as
JSON, null as an empty cell), then where it was and why it was refused. The error
columns are prefixed, so they never clash with the file's own, and an import of the
fixed file reports them once as ignored columns.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferry.datatypes.paths import ARRAY_SEPARATOR
from ferry.jobs.model import JobError

ERROR_COLUMNS = ["error_row", "error_field", "error_code", "error_message"]


@dataclass(frozen=True)
class RejectedRow:
    row: int  # 1-based, in the job's input
    errors: list[JobError]
    data: Any  # a CSV record (list of cells) or a JSON row, as sent

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "errors": [vars(e) for e in self.errors], "data": self.data}

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> RejectedRow:
        return cls(item["row"], [JobError(**e) for e in item["errors"]], item["data"])


def rejected_rows(errors: list[JobError], data_of: Callable[[int], Any]) -> list[RejectedRow]:
    """Errors (sorted by row) grouped into one RejectedRow per row; `data_of(row)` gives the row as sent."""
    grouped: dict[int, list[JobError]] = {}
    for error in errors:
        grouped.setdefault(error.row or 0, []).append(error)
    return [RejectedRow(row, row_errors, data_of(row)) for row, row_errors in grouped.items()]


def render(columns: list[str] | None, rejected: list[RejectedRow]) -> bytes:
    """The errors file; `columns` is a CSV file's header, None for JSON rows (their fields are the columns)."""
    if columns is None:
        flat = [_flat(r.data) if isinstance(r.data, dict) else {} for r in rejected]
        found: dict[str, None] = {}
        for fields in flat:
            found.update(dict.fromkeys(fields))
        columns = list(found)
        cells = [[_cell(fields.get(c)) for c in columns] for fields in flat]
    else:
        cells = [_record_cells(len(columns))(r.data) for r in rejected]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*columns, *ERROR_COLUMNS])
    for r, row_cells in zip(rejected, cells):
        writer.writerow(
            [
                *row_cells,
                r.row,
                "; ".join(e.field or "" for e in r.errors),
                "; ".join(e.code for e in r.errors),
                "; ".join(e.message for e in r.errors),
            ]
        )
    return out.getvalue().encode("utf-8")


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON row's values by dotted path, as a CSV import's headers name them ("location.settlement")."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def _cell(value: Any) -> str:
    # Absent and null are empty cells, as a CSV writes them.
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and not any(isinstance(item, (dict, list)) for item in value):
        # A list of values is one cell with its items separated as a CSV import splits them.
        return ARRAY_SEPARATOR.join(_cell(item) for item in value)
    return json.dumps(value, ensure_ascii=False)


def _record_cells(width: int) -> Callable[[Any], list[str]]:
    def cells(record: Any) -> list[str]:
        # Cut or padded to the header, so the error columns stay under their names (the message names extra cells).
        return [str(c) for c in record[:width]] + [""] * (width - len(record))

    return cells
