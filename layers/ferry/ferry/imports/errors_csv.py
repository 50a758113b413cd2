"""The rejected rows of an import as a CSV a user can fix and import again.

One line per rejected row: the row as it was sent first (a CSV file's own columns
and cells; a JSON row's top-level fields, nested values as JSON), then where it was
and why it was refused. The error columns are prefixed, so they never clash with the
file's own, and an import of the fixed file reports them once as ignored columns.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
        found: dict[str, None] = {}
        for r in rejected:
            if isinstance(r.data, dict):
                found.update(dict.fromkeys(r.data))
        columns = list(found)
        cells_of = _json_cells(columns)
    else:
        cells_of = _record_cells(len(columns))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*columns, *ERROR_COLUMNS])
    for r in rejected:
        writer.writerow(
            [
                *cells_of(r.data),
                r.row,
                "; ".join(e.field or "" for e in r.errors),
                "; ".join(e.code for e in r.errors),
                "; ".join(e.message for e in r.errors),
            ]
        )
    return out.getvalue().encode("utf-8")


def _json_cells(columns: list[str]) -> Callable[[Any], list[str]]:
    def cells(data: Any) -> list[str]:
        row = data if isinstance(data, dict) else {}
        # Absent and null are empty cells, as a CSV writes them; nested values are JSON.
        return ["" if row.get(c) is None else row[c] if isinstance(row[c], str) else json.dumps(row[c], ensure_ascii=False) for c in columns]

    return cells


def _record_cells(width: int) -> Callable[[Any], list[str]]:
    def cells(record: Any) -> list[str]:
        # Cut or padded to the header, so the error columns stay under their names (the message names extra cells).
        return [str(c) for c in record[:width]] + [""] * (width - len(record))

    return cells
