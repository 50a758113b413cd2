"""The field paths of a data type that a flat file (CSV) can name: dotted leaf paths and their JSON types.

Derived from the model's JSON Schema, the same document GET /import/types shows,
so a column means exactly what the schema says:
- a nested object is not a column; each of its leaves is ("location.geoCoordinate.latitude");
- null is never a cell's meaning (an empty cell is an absent field), so `X | None` is X;
- a union of scalar types that admits text is "string" (the model parses the text
  itself, as Dovuti's `importo` does); a union of numbers only is "number";
- a list of scalars is one leaf of type "array", written in one cell with its items
  separated by ARRAY_SEPARATOR ("A1|A2|A3");
- a list of objects (Relationships' `debts`, ProductImages' `images`) has no place
  in a flat row read by an import and is absent; an export, which only writes, asks
  for it too (`lists_of_objects`) and writes its items as JSON.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from pydantic import TypeAdapter

ARRAY_SEPARATOR = "|"

_SCALARS = frozenset({"string", "number", "integer", "boolean"})
_NUMBERS = frozenset({"number", "integer"})


@cache
def field_paths(model: type, *, lists_of_objects: bool = False) -> Mapping[str, str]:
    """Every dotted leaf path of `model` mapped to "string", "number", "integer", "boolean" or "array".

    With `lists_of_objects`, a list of objects is an "array" leaf too (an export's column).
    Read-only, and computed once per model: building the JSON Schema is the costly part.
    """
    schema = TypeAdapter(model).json_schema()
    paths: dict[str, str] = {}
    _collect(schema, schema.get("$defs", {}), "", paths, lists_of_objects)
    return MappingProxyType(paths)


def _collect(schema: dict[str, Any], defs: dict[str, Any], prefix: str, paths: dict[str, str], lists_of_objects: bool) -> None:
    for name, field in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        field = _resolved(field, defs)
        if field.get("type") == "object":
            _collect(field, defs, f"{path}.", paths, lists_of_objects)
        elif (kind := _leaf_type(field, defs)) is not None:
            paths[path] = kind
        elif lists_of_objects and field.get("type") == "array":
            paths[path] = "array"


def _resolved(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The schema itself: $ref followed, `X | None` reduced to X."""
    if "$ref" in schema:
        return _resolved(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    options = [option for option in schema.get("anyOf", ()) if option.get("type") != "null"]
    if len(options) == 1:
        return _resolved(options[0], defs)
    return schema


def _leaf_type(schema: dict[str, Any], defs: dict[str, Any]) -> str | None:
    if "anyOf" in schema:
        kinds = {_resolved(option, defs).get("type") for option in schema["anyOf"]} - {"null"}
        if not kinds <= _SCALARS:
            return None
        return "number" if kinds <= _NUMBERS else "string"
    kind = schema.get("type")
    if kind == "array":
        return "array" if _resolved(schema.get("items", {}), defs).get("type") in _SCALARS else None
    return kind if kind in _SCALARS else None
