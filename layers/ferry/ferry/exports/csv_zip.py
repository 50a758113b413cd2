"""Documents of the entity store as one CSV inside one zip, written as a stream in bounded memory.

Seed 003's file: headers are the field names or their labels; a multi-value field is
one cell with its items separated by a comma, or one column per item. How a value
becomes a cell:
- a column is a dotted path into the document ("location.settlement", "_key"), whose
  values the caller reads (EntityStore.values); absent or null is an empty cell;
- text is kept as it is (dates and timestamps are ISO 8601 text already), booleans are
  true/false, numbers are written as JSON writes them, an object is compact JSON;
- a list in one column is its items joined by ", " (text as is, anything else as JSON);
- text that a spreadsheet would take for a formula (starting with = + - @ tab or CR)
  gets a leading apostrophe (OWASP's advice against CSV injection); numbers are not
  text, so -12.5 stays a number.

The CSV is UTF-8 with a byte order mark, because Excel reads UTF-8 as the local ANSI
code page without one (and Ferry's own CSV import drops it), with CRLF line ends and
RFC 4180 quoting.

Pure Python, a column at a time: 1,000,000 Customers-like documents (12 columns, in
batches of 10,000, one core) become ~300,000 rows/s of CSV (~70 MB/s), ~260,000 rows/s
zipped. pyarrow from the same dicts was ~25% faster but writes floats its own way
(100.0 as "100"), cannot write a list of objects as JSON, and would add ~156 MB to the
layer and ~65 MB to the worker's memory; csv.writer with a call per cell was 2.5x slower.
"""
from __future__ import annotations

import json
import re
import stat
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, repeat
from typing import Any, BinaryIO, Literal

LIST_SEPARATOR = ", "
# Deflate level 1: on CSVs of varied customers ~3x faster than level 6 (98 vs 32 MB/s)
# for a zip only ~7% larger.
DEFLATE_LEVEL = 1
_FORMULA_STARTS = frozenset("=+-@\t\r")
_BOM = "\ufeff"
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


@dataclass(frozen=True)
class Column:
    header: str
    path: str  # dotted path into the document, e.g. "location.settlement", or "_key" / "_updated_at"
    index: int | None = None  # a spread multi-value field: which of its items this column holds


def columns_for(
    paths: Sequence[str],
    *,
    labels: Mapping[str, str] | None,
    multi_value: Literal["join", "spread"],
    widths: Mapping[str, int],
) -> list[Column]:
    """The columns of `paths`, headed by the path or its label.

    A list path (one in `widths`, which gives its largest item count) is one column
    when joined, or `width` columns "<header> 1", "<header> 2", ... when spread; at
    least one, so the field still shows in the header when no document has an item.
    """
    columns: list[Column] = []
    for path in paths:
        header = labels.get(path, path) if labels else path
        if multi_value == "spread" and path in widths:
            columns.extend(Column(f"{header} {i + 1}", path, i) for i in range(max(widths[path], 1)))
        else:
            columns.append(Column(header, path))
    return columns


@dataclass(frozen=True)
class Written:
    rows: int
    csv_bytes: int  # the CSV itself, uncompressed, byte order mark and header included
    zip_bytes: int  # what went to the sink


class CsvZipWriter:
    """One zip holding one CSV member, written to `sink` batch by batch.

    The zip is always written as a stream (every entry's sizes follow its data, in a
    data descriptor), so the sink needs only write() and flush() and is never sought:
    an upload stream will do. zip64 is always on, since the CSV's size is unknown when
    its entry starts; every current unzip tool reads it.

    Memory holds one batch of documents and its CSV text, whatever the number of batches.
    """

    def __init__(
        self,
        sink: BinaryIO,
        member: str,
        columns: Sequence[Column],
        *,
        modified: datetime,
        delimiter: str = ",",
    ) -> None:
        if not columns:
            raise ValueError("a CSV needs at least one column")
        self._delimiter = delimiter
        self._specials = (delimiter, '"', "\r", "\n")
        self._needs_quotes = re.compile(f'[{re.escape(delimiter)}"\r\n]').search
        # An empty line would be read back as no row at all, so a lone column's empty cell is written "".
        self._alone = len(columns) == 1
        self._cells = _cell_makers(columns)
        self.paths = list(dict.fromkeys(c.path for c in columns))  # what each written row holds, in this order
        self._out = _CountingSink(sink)
        self._zip = zipfile.ZipFile(self._out, "w")
        entry = zipfile.ZipInfo(member, modified.timetuple()[:6])
        entry.compress_type = zipfile.ZIP_DEFLATED
        # ZipFile.open applies the archive's level only to entries opened by name; a ZipInfo carries its own.
        entry._compresslevel = DEFLATE_LEVEL  # type: ignore[attr-defined]
        entry.external_attr = (stat.S_IFREG | 0o644) << 16  # a file readable by all once unzipped (zipfile: 0o600)
        self._member = self._zip.open(entry, "w", force_zip64=True)
        self._rows = 0
        self._csv_bytes = 0
        header = self._quoted([_text(c.header) for c in columns])
        self._put(_BOM + delimiter.join(header) + "\r\n")

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append one batch of documents, each as its values at `paths`, in that order."""
        if not rows:
            return
        # Transposed in C: the writer works a column at a time.
        by_path = dict(zip(self.paths, zip(*rows)))
        pieces: list[Iterable[str]] = []
        for cells in self._cells:
            pieces += (self._quoted(cells(by_path)), repeat(self._delimiter))
        pieces[-1] = repeat("\r\n")
        # Cells and separators zipped into rows and flattened: one join for the batch, twice
        # as fast as joining each row.
        self._put("".join(chain.from_iterable(zip(*pieces))))
        self._rows += len(rows)

    def close(self) -> Written:
        """End the CSV and the zip; what was written."""
        self._member.close()
        self._zip.close()
        return Written(self._rows, self._csv_bytes, self._out.written)

    def _quoted(self, cells: list[str]) -> list[str]:
        # The column is searched whole first (a few scans in C): most columns need no quotes at all.
        text = "".join(cells)
        if not self._alone and not any(special in text for special in self._specials):
            return cells
        return [
            '"' + c.replace('"', '""') + '"' if self._needs_quotes(c) or (self._alone and not c) else c
            for c in cells
        ]

    def _put(self, text: str) -> None:
        data = text.encode("utf-8")
        self._member.write(data)
        self._csv_bytes += len(data)


class _CountingSink:
    """The sink as zipfile writes to it: counted, and without seek, so zipfile streams."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self.written = 0

    def write(self, data: bytes) -> int:
        self._sink.write(data)
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        self._sink.flush()


# --- cells ---------------------------------------------------------------------------------------

_CellMaker = Callable[[Mapping[str, Sequence[Any]]], list[str]]


def _cell_makers(columns: Sequence[Column]) -> list[_CellMaker]:
    # A spread field's last column takes any items beyond the widths counted before the
    # export (documents may have changed since), so no item is ever dropped.
    last: dict[str, int] = {}
    for column in columns:
        if column.index is not None:
            last[column.path] = max(last.get(column.path, 0), column.index)
    return [_cell_maker(c.path, c.index, last.get(c.path)) for c in columns]


def _cell_maker(path: str, index: int | None, last: int | None) -> _CellMaker:
    # A column at a time, with comprehensions: several times faster than a call per cell.
    def cells(by_path: Mapping[str, Sequence[Any]]) -> list[str]:
        values = by_path[path]
        if index is not None:
            values = [_item(v, index, last) for v in values]
        return _texts(values)

    return cells


def _item(value: Any, index: int, last: int | None) -> Any:
    """Item `index` of a spread list; the last column holds the rest too, joined; a single value is the first item."""
    if value.__class__ is not list:
        return value if index == 0 else None
    if index == last and len(value) > index + 1:
        return value[index:]
    return value[index] if index < len(value) else None


def _texts(values: Sequence[Any]) -> list[str]:
    try:
        # The usual column is all text: joined in C, it is searched whole for a formula start.
        text = "\n".join(values)
    except TypeError:
        return [_FORMATS.get(v.__class__, _compact_json)(v) for v in values]
    if text[:1] in _FORMULA_STARTS or _formula_start_inside(text):
        return [_text(v) for v in values]
    return list(values)


def _text(value: str) -> str:
    return "'" + value if value[:1] in _FORMULA_STARTS else value


def _joined(items: list[Any]) -> str:
    return _text(LIST_SEPARATOR.join(v if v.__class__ is str else _compact_json(v) for v in items))


# One regex with a literal first character runs at memchr speed; six `in` scans were ~8x slower.
_formula_start_inside = re.compile("\n[=+\\-@\t\r]").search
# What each JSON type is as a cell; anything else is refused by the JSON encoder.
_FORMATS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "",
    str: _text,
    bool: lambda v: "true" if v else "false",
    int: int.__repr__,
    float: float.__repr__,  # the shortest text that reads back as the same float: what JSON writes
    list: _joined,
    dict: _compact_json,
}
