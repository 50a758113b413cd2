"""A data type: a row model, its business key, the actions an import may take, its Replace sets."""
from __future__ import annotations

from collections.abc import Mapping
import re
from dataclasses import dataclass, field
from typing import Any

from ferry.store.port import Action

# Joins the parts of a composite key or set; ids may not contain it (models.KeyPart), so joins are unambiguous.
KEY_SEPARATOR = "\x1f"

@dataclass(frozen=True)
class DataType:
    name: str
    model: type  # a TypedDict of ferry.datatypes.models, validated by pydantic
    key_fields: tuple[str, ...]
    actions: tuple[Action, ...]
    set_fields: tuple[str, ...] = ()  # Replace only: the rows of a set replace all stored documents of that set
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)  # field path -> the header people read; the rest are derived

    def label(self, path: str) -> str:
        """A field's label: given, or its path in words ("location.geoCoordinate.latitude" -> "Location geo coordinate latitude")."""
        if path in self.labels:
            return self.labels[path]
        words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", path.replace(".", " ").replace("_", " ")).lower().split()
        return " ".join(words).capitalize()

    def key_of(self, doc: Mapping[str, Any]) -> str:
        return _joined(doc, self.key_fields)

    def set_of(self, doc: Mapping[str, Any]) -> str | None:
        return _joined(doc, self.set_fields) if self.set_fields else None


def _joined(doc: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    # A key part left out or null (PersonalPrices' BrandId) counts as empty; ids are never empty, so this is unambiguous.
    if len(fields) == 1:  # most keys: a third of the join's time, once per imported row
        return "" if (value := doc.get(fields[0])) is None else str(value)
    return KEY_SEPARATOR.join("" if (value := doc.get(name)) is None else str(value) for name in fields)
