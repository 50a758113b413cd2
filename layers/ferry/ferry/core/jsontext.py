"""JSON from clients, read strictly (RFC 8259) and within bounds the stores can keep.

Python's `json` accepts NaN and Infinity, overflows 1e400 to inf, recurses until
RecursionError and refuses long integers with a ValueError; a document that gets
through must also fit MongoDB (64-bit integers, finite doubles) and SQLite. So: one
parse (pydantic-core's, which refuses NaN/Infinity, lone surrogates and nesting past
200 levels), then, only when the text holds a long digit run or a big exponent, one
walk that refuses numbers out of range; and, as I-JSON (RFC 7493) asks, an object
with one member name twice is refused rather than silently keeping the last (that
check re-reads the text with `json`, about 10 ms a megabyte). Every refusal says where.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json

# Symmetric: the worker reads an import's file with yajl (ijson), which cannot read -2**63 itself, so a body
# accepted here would fail its job whole at the plan.
INT_MIN, INT_MAX = -(2**63 - 1), 2**63 - 1
_BOM = "\ufeff"
# Only a number with 19+ digits or a 3-digit exponent can fall outside int64 / finite double.
_SUSPECT_NUMBER = re.compile(r"\d{19,}|[eE][+-]?\d{3,}")
_POSITION = re.compile(r" at line (\d+) column (\d+)$")
_OUT_OF_RANGE = "number out of range (integers are 64-bit, decimals finite doubles)"
_REASONS = {"recursion limit exceeded": "nested deeper than 200 levels", "number out of range": _OUT_OF_RANGE}


def encoded_size(value: Any) -> int:
    """The bytes `value` takes as UTF-8 JSON (dates and such as text): what a kept item's bound counts."""
    return len(json.dumps(value, ensure_ascii=False, default=str).encode())


@dataclass(frozen=True)
class JsonRefused(Exception):
    reason: str
    line: int
    column: int
    position: int  # 0-based character offset

    def __str__(self) -> str:
        return f"{self.reason} at line {self.line} column {self.column}"


def parse(text: str | bytes) -> Any:
    """The JSON value of `text` (UTF-8 if bytes), or JsonRefused naming what is wrong and where."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _refusal(text.decode("utf-8", "replace"), exc.start, "not UTF-8") from None
    if text.startswith(_BOM):
        text = text[1:]
    try:
        value = from_json(text, allow_inf_nan=False, cache_strings=False)
    except ValueError as exc:
        message = str(exc)
        found = _POSITION.search(message)
        if not found:
            raise JsonRefused(message, 1, 1, 0) from None
        position = _offset(text, int(found[1]), int(found[2]))
        reason = _REASONS.get(message[: found.start()], message[: found.start()])
        if text[max(position - 1, 0) : position + 9].lstrip("-[,: ").startswith(("NaN", "Infinity")):
            reason = "NaN and Infinity are not JSON numbers"
        raise _refusal(text, position, reason) from None
    if (suspect := _SUSPECT_NUMBER.search(text)) and _out_of_range(value):
        raise _refusal(text, suspect.start(), _OUT_OF_RANGE)
    if "{" in text:
        try:
            json.loads(text, object_pairs_hook=_unique_members)
        except _DuplicateMember as exc:
            places = [m.start() for m in re.finditer(re.escape(json.dumps(exc.name, ensure_ascii=False)) + r"\s*:", text)]
            where = places[1] if len(places) > 1 else 0  # the second occurrence, as far as a search can tell
            raise _refusal(text, where, f"member name {exc.name!r} appears twice in one object") from None
    return value


class _DuplicateMember(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateMember(next(name for name, _ in pairs if name in seen or seen.add(name)))
    return members


def _out_of_range(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, int) and not isinstance(item, bool) and not INT_MIN <= item <= INT_MAX:
            return True
    return False


def _offset(text: str, line: int, column: int) -> int:
    """The character offset of pydantic-core's line and column (a column counts UTF-8 bytes)."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return len(text)
    line_bytes = text[start : start + 4 * column].encode("utf-8", "surrogatepass")
    return min(start + len(line_bytes[: column - 1].decode("utf-8", "ignore")), len(text))


def _refusal(text: str, position: int, reason: str) -> JsonRefused:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return JsonRefused(reason, line, column, position)
