"""A data type: a row model, its business key, the actions an import may take, its Replace sets."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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

    def key_of(self, doc: Mapping[str, Any]) -> str:
        return _joined(doc, self.key_fields)

    def set_of(self, doc: Mapping[str, Any]) -> str | None:
        return _joined(doc, self.set_fields) if self.set_fields else None


def _joined(doc: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    # A key part left out or null (PersonalPrices' BrandId) counts as empty; ids are never empty, so this is unambiguous.
    return KEY_SEPARATOR.join("" if (value := doc.get(name)) is None else str(value) for name in fields)
