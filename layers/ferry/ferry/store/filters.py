"""The query language of the entity store: one validated subset of MongoDB's.

A filter may use field equality (`{"a.b": 1}`), `$eq`, `$ne`, `$in`, `$nin`,
`$gt`, `$gte`, `$lt`, `$lte`, `$exists`, `$and`, `$or`, and `$regex` when it is
an anchored literal prefix (`^abc`, escaped metacharacters allowed). Operands
are JSON scalars. Fields are dotted paths through objects; besides business
fields, a query may name `_key` and `_updated_at`, never other internal fields.
Anything else raises InvalidFilter with a JSON pointer to the offending part.

MongoDB runs the validated filter as it is; SQLite runs `to_sql`'s translation,
which keeps MongoDB's type rules (`$gt: 5` never matches a string, `true` is not
`1`, a missing field equals null). Not translated: MongoDB's matching of array
elements (`{"tags": "x"}` against `["x", "y"]`), so filters are meant for fields
holding scalars or objects.

Ordering follows MongoDB's (null and missing first ascending) for fields whose
values share one JSON type besides null; `after` positions are keysets, so
paging neither skips nor repeats documents when sort values tie.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import string
from collections.abc import Sequence
from typing import Any

from ferry.core.errors import pointer
from ferry.core.jsontext import encoded_size
from ferry.store.port import InvalidFilter

# The internal fields a query may name, and the SQLite columns holding them.
INTERNAL_COLUMNS = {"_key": "key", "_updated_at": "updated_at"}

_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_FIELD_OPERATORS = {"$eq", "$ne", "$in", "$nin", "$exists", "$regex", *_COMPARISONS}
_REGEX_METACHARACTERS = set(".^$*+?()[]{}|\\")
# After a backslash these stand for themselves, in PCRE and in Python alike.
_ESCAPABLE = set(string.punctuation) | {" "}


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))


def _check_field(name: Any, path: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidFilter("a field name must be a non-empty string", path)
    if name.startswith("_"):
        if name not in INTERNAL_COLUMNS:
            raise InvalidFilter(f"{name} is internal; only _key and _updated_at may be named", path)
        return name
    for segment in name.split("."):
        if not segment:
            raise InvalidFilter(f"{name!r} has an empty path segment", path)
        if segment.startswith("$"):
            raise InvalidFilter(f"{name!r}: field names may not start with $", path)
        if '"' in segment or "\x00" in segment:
            raise InvalidFilter(f'{name!r}: field names may not contain " or NUL', path)
    return name


def _regex_prefix(pattern: Any, path: str) -> str:
    """The literal prefix an anchored-prefix pattern matches."""
    if not isinstance(pattern, str) or not pattern.startswith("^"):
        raise InvalidFilter("$regex must be a string anchored with ^", path)
    prefix: list[str] = []
    chars = iter(pattern[1:])
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPABLE:
                raise InvalidFilter("$regex may escape only punctuation (character classes are not supported)", path)
            prefix.append(escaped)
        elif char in _REGEX_METACHARACTERS:
            raise InvalidFilter(f"$regex must be a literal prefix; {char!r} is a metacharacter (escape it)", path)
        else:
            prefix.append(char)
    return "".join(prefix)


def _check_operand(value: Any, path: str) -> Any:
    if not _is_scalar(value):
        raise InvalidFilter("operands must be JSON scalars (string, number, boolean, null)", path)
    return value


# Operators MongoDB has that run code or scan without bound: named as such when refused.
_UNSAFE = {"$where", "$function", "$accumulator", "$expr", "$jsonSchema", "$text", "$near", "$nearSphere"}


def _unsupported(op: str, at: str) -> InvalidFilter:
    if op in _UNSAFE:
        return InvalidFilter(f"{op} could run code or scan without bound: refused", at)
    return InvalidFilter(f"unsupported operator {op}", at)


def _validate_operators(operators: dict[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op, operand in operators.items():
        at = pointer(path, op)
        if op not in _FIELD_OPERATORS:
            raise _unsupported(op, at)
        if op in ("$eq", "$ne"):
            out[op] = _check_operand(operand, at)
        elif op in ("$in", "$nin"):
            if not isinstance(operand, (list, tuple)):
                raise InvalidFilter(f"{op} takes an array", at)
            out[op] = [_check_operand(v, pointer(at, str(i))) for i, v in enumerate(operand)]
        elif op in _COMPARISONS:
            if isinstance(operand, bool) or not isinstance(operand, (str, int, float)) or not _is_scalar(operand):
                raise InvalidFilter(f"{op} compares with a string or a number", at)
            out[op] = operand
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise InvalidFilter("$exists takes true or false", at)
            out[op] = operand
        else:
            _regex_prefix(operand, at)
            out[op] = operand
    return out


def _validate(filter: Any, path: str) -> dict[str, Any]:
    if not isinstance(filter, dict):
        raise InvalidFilter("a filter must be an object", path)
    out: dict[str, Any] = {}
    for name, condition in filter.items():
        at = pointer(path, str(name))
        if isinstance(name, str) and name in ("$and", "$or"):
            if not isinstance(condition, (list, tuple)) or not condition:
                raise InvalidFilter(f"{name} takes a non-empty array of filters", at)
            out[name] = [_validate(part, pointer(at, str(i))) for i, part in enumerate(condition)]
        elif isinstance(name, str) and name.startswith("$"):
            raise _unsupported(name, at)
        elif isinstance(condition, dict):
            _check_field(name, at)
            operators = [k for k in condition if isinstance(k, str) and k.startswith("$")]
            if not condition or len(operators) != len(condition):
                raise InvalidFilter("comparing a field with a whole object is not supported", at)
            out[name] = _validate_operators(condition, at)
        else:
            out[_check_field(name, at)] = _check_operand(condition, at)
    return out


# A filter is kept in one DynamoDB item (400 KB) with what names it (a segment, a job, an export configuration)
# and sent with every query: 32 KB of JSON holds any real one (an $in of a thousand ids).
MAX_FILTER_BYTES = 32 * 1024


def validate(filter: Any) -> dict[str, Any]:
    """The filter checked against the supported subset, ready for MongoDB."""
    return _validate(filter, "/filter")


def validate_kept(filter: Any) -> dict[str, Any]:
    """A filter given to be kept (a segment's, an export's args): the subset, within MAX_FILTER_BYTES.

    Only there: an export's query joins its filter with its segments' and its times, and may be larger.
    """
    if encoded_size(filter) > MAX_FILTER_BYTES:
        raise InvalidFilter(f"a filter takes at most {MAX_FILTER_BYTES // 1024} KB of JSON", "/filter")
    return validate(filter)


def validate_fields(fields: Sequence[str]) -> list[str]:
    """A projection's dotted paths; one may not lie inside another (MongoDB refuses such collisions)."""
    if isinstance(fields, str):
        raise InvalidFilter("fields must be an array of field names", "/fields")
    out: list[str] = []
    for i, name in enumerate(fields):
        at = pointer("/fields", str(i))
        _check_field(name, at)
        if name in out:
            continue
        for other in out:
            if name.startswith(other + ".") or other.startswith(name + "."):
                raise InvalidFilter(f"{name!r} overlaps {other!r}", at)
        out.append(name)
    return out


def validate_order(order: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """The sort fields with the key appended, so that the order is total."""
    out: list[tuple[str, int]] = []
    for i, item in enumerate(order):
        at = pointer("/order", str(i))
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise InvalidFilter("an order item is a [field, 1 | -1] pair", at)
        name, direction = item
        _check_field(name, pointer(at, "0"))
        if isinstance(direction, bool) or direction not in (1, -1):
            raise InvalidFilter("the direction is 1 or -1", pointer(at, "1"))
        if any(name == seen for seen, _ in out):
            raise InvalidFilter(f"{name!r} appears twice", at)
        out.append((name, direction))
    if all(name != "_key" for name, _ in out):
        out.append(("_key", 1))
    return out


def encode_after(values: Sequence[Any]) -> str:
    """The opaque position after a document: its sort values, the key last."""
    text = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_after(after: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise InvalidFilter("after is not a position this store gave", "/after") from None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidFilter("after belongs to a different order", "/after")
    return values


def lookup(doc: dict[str, Any], name: str) -> Any:
    """The value at a dotted path through objects; None where it is missing, as MongoDB sorts it."""
    value: Any = doc
    for segment in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(segment)
    return value


def project(doc: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """MongoDB's inclusion projection: an object on the way is kept (maybe empty), arrays keep their objects."""
    out: dict[str, Any] = {}
    for name in fields:
        _copy(doc, out, name.split("."))
    return out


def _copy(src: dict[str, Any], dst: dict[str, Any], segments: list[str]) -> None:
    head, rest = segments[0], segments[1:]
    if head not in src:
        return
    value = src[head]
    if not rest:
        dst[head] = value
    elif isinstance(value, dict):
        _copy(value, dst.setdefault(head, {}), rest)
    elif isinstance(value, list):
        elements = [element for element in value if isinstance(element, dict)]
        targets = dst.setdefault(head, [{} for _ in elements])
        for element, target in zip(elements, targets):
            _copy(element, target, rest)


# --- SQLite -------------------------------------------------------------------------------------------


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def json_path(name: str) -> str:
    """SQLite's JSON path of a dotted field, each segment quoted (validated names hold no ")."""
    return "$" + "".join(f'."{segment}"' for segment in name.split("."))


def sql_value(name: str, doc_column: str = "doc") -> str:
    """The SQL expression of a field's value: a column for _key and _updated_at, json_extract otherwise."""
    if name in INTERNAL_COLUMNS:
        return INTERNAL_COLUMNS[name]
    return f"json_extract({doc_column}, {sql_literal(json_path(name))})"


class _Translator:
    """Builds the WHERE clause; every expression it emits is true or false, never NULL, so NOT is safe."""

    def __init__(self, doc_column: str) -> None:
        self.doc = doc_column
        self.params: list[Any] = []

    def bind(self, values: Sequence[Any]) -> str:
        self.params.extend(values)
        return ", ".join("?" * len(values))

    def types(self, name: str, types: Sequence[str]) -> str:
        kinds = ", ".join(sql_literal(t) for t in types)
        return f"COALESCE(json_type({self.doc}, {sql_literal(json_path(name))}), 'null') IN ({kinds})"

    def filter(self, filter: dict[str, Any]) -> str:
        parts = []
        for name, condition in filter.items():
            if name in ("$and", "$or"):
                joiner = " AND " if name == "$and" else " OR "
                parts.append("(" + joiner.join(self.filter(part) for part in condition) + ")")
            elif isinstance(condition, dict):
                parts.extend(self.operator(name, op, operand) for op, operand in condition.items())
            else:
                parts.append(self.equals_any(name, [condition]))
        return " AND ".join(parts) if parts else "1"

    def operator(self, name: str, op: str, operand: Any) -> str:
        if op == "$eq":
            return self.equals_any(name, [operand])
        if op == "$ne":
            return f"NOT {self.equals_any(name, [operand])}"
        if op == "$in":
            return self.equals_any(name, operand)
        if op == "$nin":
            return f"NOT {self.equals_any(name, operand)}"
        if op == "$exists":
            return self.exists(name, operand)
        if op == "$regex":
            return self.prefix(name, _regex_prefix(operand, ""))
        return self.compare(name, _COMPARISONS[op], operand)

    def equals_any(self, name: str, values: Sequence[Any]) -> str:
        strings = [v for v in values if isinstance(v, str)]
        if name in INTERNAL_COLUMNS:
            return f"({INTERNAL_COLUMNS[name]} IN ({self.bind(strings)}))" if strings else "0"
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        others = [t for t, v in (("null", None), ("true", True), ("false", False)) if any(x is v for x in values)]
        value = sql_value(name, self.doc)
        parts = [self.types(name, others)] if others else []
        for kinds, group in ((("integer", "real"), numbers), (("text",), strings)):
            if group:
                parts.append(f"({self.types(name, kinds)} AND {value} IN ({self.bind(group)}))")
        return "(" + " OR ".join(parts) + ")" if parts else "0"

    def compare(self, name: str, sign: str, operand: str | float) -> str:
        kinds = ("text",) if isinstance(operand, str) else ("integer", "real")
        if name in INTERNAL_COLUMNS:
            return f"({INTERNAL_COLUMNS[name]} {sign} {self.bind([operand])})" if kinds == ("text",) else "0"
        return f"({self.types(name, kinds)} AND {sql_value(name, self.doc)} {sign} {self.bind([operand])})"

    def exists(self, name: str, wanted: bool) -> str:
        if name in INTERNAL_COLUMNS:
            return "1" if wanted else "0"
        test = "IS NOT NULL" if wanted else "IS NULL"
        return f"(json_type({self.doc}, {sql_literal(json_path(name))}) {test})"

    def prefix(self, name: str, prefix: str) -> str:
        value = sql_value(name, self.doc)
        head = f"substr({value}, 1, {len(prefix)}) = {self.bind([prefix])}"
        if name in INTERNAL_COLUMNS:
            return f"({head})"
        return f"({self.types(name, ('text',))} AND {head})"


def to_sql(filter: Any, doc_column: str = "doc") -> tuple[str, list[Any]]:
    """The filter as a SQLite condition over a JSON document column (`_key`, `_updated_at`: columns key, updated_at)."""
    translator = _Translator(doc_column)
    sql = translator.filter(validate(filter))
    return sql, translator.params
