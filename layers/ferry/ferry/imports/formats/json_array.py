"""A JSON array of rows, read one row at a time: a 5 GB upload never sits in memory whole."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson

from ferry.imports.formats.streams import prefixed

_BOM = b"\xef\xbb\xbf"


class NotAJsonArray(Exception):
    """The file is not a JSON array of rows (or not JSON at all)."""


def rows_of(stream: BinaryIO) -> Iterator[Any]:
    """Each element of the top-level array, as plain JSON values (floats, not Decimals)."""
    head = stream.read(64 * 1024)
    start = head[len(_BOM) :] if head.startswith(_BOM) else head
    if not start.lstrip().startswith(b"["):
        raise NotAJsonArray("the file must hold a JSON array of rows")
    try:
        yield from ijson.items(prefixed(start, stream), "item", use_float=True)
    except ijson.JSONError as exc:
        # yajl's message draws the place on more lines; the first says what is wrong.
        raise NotAJsonArray(f"the file is not valid JSON: {str(exc).splitlines()[0]}") from None
