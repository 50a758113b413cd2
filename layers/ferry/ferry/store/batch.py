"""What both entity store adapters do alike with a batch before writing it."""
from __future__ import annotations

from collections.abc import Sequence

from ferry.store.port import RowRejected, WriteRow


def duplicate(row: WriteRow, earlier_in_import: bool = False) -> RowRejected:
    reason = "an earlier row of this import has the same key" if earlier_in_import else "a document with this key exists"
    return RowRejected(row.row, row.key, "duplicate_key", reason)


def not_found(row: WriteRow) -> RowRejected:
    return RowRejected(row.row, row.key, "not_found", "no document with this key exists")


def merged_by_key(rows: Sequence[WriteRow]) -> dict[str, tuple[WriteRow, list[WriteRow]]]:
    """Rows of one key folded into one, in row order, as writing them one after another would: key -> (merged, rows).

    An unordered MongoDB bulk write may apply operations in any order, so one key gets
    one operation; SQLite folds the same way so that both stores agree.
    """
    out: dict[str, tuple[WriteRow, list[WriteRow]]] = {}
    for row in rows:
        seen = out.get(row.key)
        if seen is None:
            out[row.key] = (row, [row])
        else:
            merged = WriteRow(row.row, row.key, {**seen[0].doc, **row.doc}, row.set_key)
            out[row.key] = (merged, [*seen[1], row])
    return out
