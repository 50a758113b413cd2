"""A CSV file read as a stream: encoding and delimiter judged from its start, header mapped to field paths.

Memory stays bounded whatever the file's size: the first 64 KiB are read to judge
the file, then it is decoded incrementally and csv.reader yields one record at a
time. A quoted field may span lines, but not past csv.field_size_limit()
characters (131,072 by default), so even an unclosed quote costs no more than
that before the file is refused.

The stdlib reader, not pandas: for 200,000 Customers rows (48 MB) both tokenize
in ~0.4 s, but row dicts came out of csv.reader in 1.5 s (+14 MiB peak) and out
of pandas' chunks in 1.8 s (+27 MiB), and pandas adds ~250 ms and ~60 MiB to import.

A file is refused whole (UnreadableFile) when it cannot be read as a table: at
once for what its start shows, later, while its records are read, for text that
stops being decodable or a record that is not CSV. A record that merely has
more cells than the header is yielded as it is; row_of marks the extra cells.
"""
from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ferry.datatypes.paths import ARRAY_SEPARATOR
from ferry.imports.formats.streams import prefixed

HEAD_BYTES = 64 * 1024
# A row's cells beyond the header go under this key; no model has such a field, so
# validation refuses the row (extra_forbidden) naming it, with the cells in the row.
EXTRA_CELLS = "_extra_cells"
ZIP_MAGIC = b"PK\x03\x04"
MAX_COMPRESSION_RATIO = 100

_DELIMITERS = ",;\t"
_SNIFFED_LINES = 20
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Control characters that text does not hold; tab, line ends, form feed and DOS's
# end-of-file mark (^Z) are left out because real CSV files do carry them.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f]")
_BINARY = "the file is not text (binary content)"
_INT64 = range(-(2**63), 2**63)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DOT_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# A comma followed by exactly three digits may be a thousands separator ("1,234"): left to validation.
_COMMA_DECIMAL = re.compile(r"[+-]?[0-9]+,(?:[0-9]{1,2}|[0-9]{4,})")
_ABSOLUTE = re.compile(r"[/\\]|[A-Za-z]:")  # a root or a Windows drive
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class UnreadableFile(Exception):
    """The file cannot be read as a table; `reason` says why, for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str | None = None  # sniffed among , ; and tab when not given
    encoding: str | None = None  # UTF-8 (BOM or not), else cp1252, when not given
    columns: Mapping[str, str] | None = None  # file header -> field path, for headers that are not the field names


@dataclass(frozen=True)
class CsvLayout:
    header: list[str]  # exactly as in the file
    paths: list[str | None]  # the field path each column feeds; None for an unknown column
    unknown: list[str]  # the unknown headers, in file order
    delimiter: str
    encoding: str  # the codec that reads the file ("utf-8", "cp1252", ...)
    # Per column, what row_of does with a cell, worked out once per file rather than once per cell:
    # the path's parent objects, its leaf, and the converter of its type (None: the text as it is).
    targets: list[tuple[tuple[str, ...], str, Callable[[str], Any] | None] | None] = field(default_factory=list)


def open_table(
    stream: BinaryIO, options: CsvOptions, paths: Mapping[str, str]
) -> tuple[CsvLayout, Iterator[list[str]]]:
    """The file's layout, read at once, and an iterator over its records' cells, read as they are asked for.

    `paths` is ferry.datatypes.paths.field_paths of the data type. Blank lines are
    not records. UnreadableFile comes from this call for what the file's start
    shows, and from the iterator for what only a later part shows.
    """
    head = _read_head(stream)
    if not head:
        raise UnreadableFile("the file is empty")
    try:
        encoding, text = _decoded_head(head, options.encoding)
    except UnreadableFile:
        # Latin-1 maps each byte to the same code point: binary content shows as the same control characters.
        if _looks_binary(head.decode("latin-1")):
            raise UnreadableFile(_BINARY) from None
        raise
    if _looks_binary(text):
        raise UnreadableFile(_BINARY)
    delimiter = options.delimiter or _sniffed_delimiter(text)
    decoded = io.TextIOWrapper(prefixed(head, stream), encoding=_codec(encoding), newline="")
    # strict: a quoted cell still open at the end of the file is an error, not the rest of the file read as
    # that one cell (its rows would vanish from the counts), nor is text after a closing quote taken as more cell.
    records = _records(csv.reader(decoded, delimiter=delimiter, strict=True), encoding)
    header = next(records, None)
    if header is None:
        raise UnreadableFile("the file is empty")
    return _layout(header, options, paths, delimiter, encoding), records


def row_of(cells: list[str], layout: CsvLayout) -> dict[str, Any]:
    """The nested row a record stands for, ready for validation.

    An empty cell is an absent field. A cell of a number, integer or boolean field
    becomes that value when it reads as one, and otherwise stays text so that
    validation reports it. Cells beyond the header, unless all empty (a trailing
    delimiter), go under EXTRA_CELLS.
    """
    row: dict[str, Any] = {}
    for cell, column in zip(cells, layout.targets):
        if not cell or column is None:
            continue
        parents, leaf, convert = column
        target = row
        for name in parents:
            inner = target.get(name)
            if inner is None:
                inner = target[name] = {}
            target = inner
        target[leaf] = cell if convert is None else convert(cell)
    extra = cells[len(layout.paths) :]
    if any(extra):
        row[EXTRA_CELLS] = extra
    return row


def is_zip(first_bytes: bytes) -> bool:
    return first_bytes.startswith(ZIP_MAGIC)


def open_zipped_file(archive: str | os.PathLike[str] | BinaryIO) -> BinaryIO:
    """The one file a zip holds, opened for reading; UnreadableFile when the zip holds anything else.

    `archive` is a path or a seekable binary file. Directory entries and macOS
    metadata are not files. Only stored and deflated members are read: deflate's
    output is bounded per read, other methods' is not.
    """
    try:
        with zipfile.ZipFile(archive) as zipped:
            member = _only_file(zipped)
            # The member stays readable after the ZipFile closes: it holds the underlying file open.
            return io.BufferedReader(_ZipMember(zipped.open(member)))
    except zipfile.BadZipFile as exc:
        raise UnreadableFile(f"the file is not a valid zip archive ({exc})") from exc


# --- reading --------------------------------------------------------------------------------------


def _read_head(stream: BinaryIO) -> bytes:
    # read() may answer less than asked before the end (sockets, decompressors): loop until 64 KiB or the end.
    chunks: list[bytes] = []
    size = 0
    while size < HEAD_BYTES and (chunk := stream.read(HEAD_BYTES - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _decoded_head(head: bytes, given: str | None) -> tuple[str, str]:
    """The encoding that reads the file, and its start decoded with it."""
    if given is not None:
        try:
            encoding = codecs.lookup(given).name
            io.TextIOWrapper(io.BytesIO(), encoding=encoding)  # refuses the codecs that do not make text (hex, rot13)
        except LookupError:
            raise UnreadableFile(f"the encoding {given!r} is not a text encoding this service knows") from None
        try:
            return encoding, _decoded(head, encoding)
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"the file is not {given} text ({exc.reason} at byte {exc.start})") from None
    # Excel's "Unicode text" is UTF-16 with a BOM; a UTF-8 file may have one too (utf-8-sig drops it).
    for encoding in ("utf-16",) if head.startswith(_UTF16_BOMS) else ("utf-8", "cp1252"):
        try:
            return encoding, _decoded(head, encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("the file is not UTF-8 and no encoding was given that reads it")


def _looks_binary(text: str) -> bool:
    return "\x00" in text or len(_CONTROLS.findall(text)) * 100 > len(text)


def _decoded(head: bytes, encoding: str) -> str:
    # The head may end inside a multi-byte character: only a head that is the whole file is final.
    return codecs.getincrementaldecoder(_codec(encoding))().decode(head, final=len(head) < HEAD_BYTES)


def _codec(encoding: str) -> str:
    return "utf-8-sig" if encoding == "utf-8" else encoding


def _sniffed_delimiter(text: str) -> str:
    lines = text.split("\n", _SNIFFED_LINES)[:_SNIFFED_LINES]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        # The Sniffer wants the same count on every line; the header alone decides then, "," when it has none.
        return max(_DELIMITERS, key=lines[0].count)


def _records(reader: Any, encoding: str) -> Iterator[list[str]]:
    starts = 1  # the line the next record starts at: a record with a quoted line break spans several
    try:
        for record in reader:
            if record:
                yield record
            starts = reader.line_num + 1
    except UnicodeDecodeError as exc:
        # Decoding runs a few KiB ahead of the records, so the line is where the bad byte comes after.
        reason = f"the file stops being {encoding} text after line {reader.line_num}: {exc.reason}"
        raise UnreadableFile(reason) from None
    except csv.Error as exc:
        why = "a quoted cell is never closed" if "unexpected end of data" in str(exc) else str(exc)
        raise UnreadableFile(f"the record starting at line {starts} is not CSV: {why}") from None


def _folded(name: str) -> str:
    """A header as it is matched: case, surrounding spaces, and spaces for underscores ("Codice Fiscale") do not count."""
    return " ".join(name.replace("_", " ").split()).casefold()


def unmapped_columns(columns: Mapping[str, str], paths: Mapping[str, str]) -> list[str]:
    """The headers of the columns option whose target is no field path (matched as headers are matched)."""
    known = {_folded(path) for path in paths}
    return [name for name, target in columns.items() if _folded(target) not in known]


def _layout(
    header: list[str], options: CsvOptions, paths: Mapping[str, str], delimiter: str, encoding: str
) -> CsvLayout:
    by_folded = {_folded(path): path for path in paths}
    renamed: dict[str, str] = {}
    for name, target in (options.columns or {}).items():
        path = by_folded.get(_folded(target))
        if path is None:
            raise UnreadableFile(f"the columns option maps {name!r} to {target!r}, which is no field of this data type")
        renamed[_folded(name)] = path
    column_paths = [renamed.get(_folded(cell)) or by_folded.get(_folded(cell)) for cell in header]
    if not any(column_paths):
        fields = ", ".join(list(paths)[:4])
        raise UnreadableFile(f"the file has no header row: its first row names none of the fields ({fields}, ...)")
    first_column: dict[str, int] = {}
    for index, path in enumerate(column_paths):
        if path is not None and (earlier := first_column.setdefault(path, index)) != index:
            raise UnreadableFile(f"columns {header[earlier]!r} and {header[index]!r} both name the field {path}")
    unknown = [cell for cell, path in zip(header, column_paths) if path is None]
    targets = [None if path is None else (*_steps(path), _CONVERTERS[paths[path]]) for path in column_paths]
    return CsvLayout(header, column_paths, unknown, delimiter, encoding, targets)


# --- cells to values ------------------------------------------------------------------------------


def _steps(path: str) -> tuple[tuple[str, ...], str]:
    *parents, leaf = path.split(".")
    return tuple(parents), leaf


def _number(cell: str) -> Any:
    text = cell.strip()
    if _DOT_DECIMAL.fullmatch(text):
        value = float(text)
    elif _COMMA_DECIMAL.fullmatch(text):
        value = float(text.replace(",", "."))
    else:
        return cell
    return value if math.isfinite(value) else cell


def _integer(cell: str) -> Any:
    text = cell.strip()
    # 20 characters hold any int64 with its sign; the bound also spares int() a 4,300-digit refusal.
    if _INTEGER.fullmatch(text) and len(text) <= 20 and (value := int(text)) in _INT64:
        return value
    return cell


def _boolean(cell: str) -> Any:
    return _BOOLEANS.get(cell.strip().casefold(), cell)


def _array(cell: str) -> list[str]:
    return cell.split(ARRAY_SEPARATOR)


# A text cell is the text itself: no converter (None) spares a call per cell.
_CONVERTERS = {"string": None, "number": _number, "integer": _integer, "boolean": _boolean, "array": _array}


# --- zip ------------------------------------------------------------------------------------------


def _only_file(zipped: zipfile.ZipFile) -> zipfile.ZipInfo:
    files = []
    for info in zipped.infolist():
        parts = info.filename.replace("\\", "/").split("/")
        if _ABSOLUTE.match(info.filename) or ".." in parts:
            raise UnreadableFile(f"the zip holds a path that leaves its folder: {info.filename!r}")
        if not info.is_dir() and parts[0] != "__MACOSX" and parts[-1] != ".DS_Store":
            files.append(info)
    if len(files) != 1:
        names = ", ".join(info.filename for info in files[:5])
        listed = f": {names}" if files else ""
        raise UnreadableFile(f"the zip must hold exactly one file; it holds {len(files)}{listed}")
    member = files[0]
    if member.flag_bits & 0x1:
        raise UnreadableFile(f"the zip's file {member.filename!r} is encrypted")
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnreadableFile(f"the zip's file {member.filename!r} is compressed with a method other than deflate")
    if member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1):
        raise UnreadableFile(
            f"the zip's file {member.filename!r} expands more than {MAX_COMPRESSION_RATIO} times"
            f" ({member.compress_size} bytes to {member.file_size})"
        )
    return member


class _ZipMember(io.RawIOBase):
    """A zip member whose corruption, found only while reading (bad CRC, cut short), is an UnreadableFile."""

    def __init__(self, member: BinaryIO) -> None:
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._member.read(len(buffer))
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise UnreadableFile(f"the zip's file is corrupt ({exc or 'cut short'})") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._member.close()
        super().close()
