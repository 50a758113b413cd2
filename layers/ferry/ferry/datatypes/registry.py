"""The registered data types: their models, business keys and allowed actions.

SEED_004 is the bulk-import table of seed 004, exactly; file imports and exports take every registered type.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import TypeAdapter

from ferry.datatypes import models
from ferry.datatypes.datatype import DataType
from ferry.datatypes.crm import CRM_TYPES
from ferry.datatypes.dovuti import DOVUTI
from ferry.datatypes.erp import ERP_TYPES
from ferry.core.errors import shown
from ferry.store.port import Action

_EDITABLE = (Action.CREATE, Action.UPDATE, Action.CREATE_OR_UPDATE)


class UnsupportedImport(ValueError):
    """A dataType, or an actionType for it, outside seed 004's table. `field` is "dataType" or "actionType"."""

    def __init__(self, field: str, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.allowed = allowed


REGISTRY: dict[str, DataType] = {
    t.name: t
    for t in (
        DataType(
            "Products", models.Products, ("vendorId",), _EDITABLE,
            description="Products of the catalogue, by vendorId.",
        ),
        DataType(
            "ProductPrices", models.ProductPrices, ("ProductId", "PriceCategoryId", "CurrencyId"), (Action.REPLACE,),
            set_fields=("ProductId",),
            description="Product prices per price category and currency; replaces all prices of the products sent.",
        ),
        DataType(
            "InvoiceDebts", models.InvoiceDebts, ("invoiceId",), (Action.REPLACE,),
            set_fields=("invoiceId",),
            description="Debts per invoice; replaces each invoice's debts wholesale.",
        ),
        DataType(
            "RelationshipDebts", models.RelationshipDebts, ("relationshipId",), (Action.REPLACE,),
            set_fields=("relationshipId",),
            description="Debts and overdue debts per relationship (contract); replaces each relationship's debts.",
        ),
        DataType(
            "Customers", models.Customers, ("vendorId",), _EDITABLE,
            description="Customers, by vendorId.",
        ),
        DataType(
            "Relationships", models.Relationships, ("vendorId",), _EDITABLE,
            description="Relationships (contracts) with customers, by vendorId.",
        ),
        DataType(
            "TradeOutlets", models.TradeOutlets, ("vendorId",), _EDITABLE,
            description="Trade outlets, by vendorId.",
        ),
        DataType(
            "Tasks", models.Tasks, ("vendorId",), (Action.CREATE,),
            description="Tasks for field employees, by vendorId; created only.",
        ),
        DataType(
            "PersonalPrices", models.PersonalPrices, ("TradeOutletId", "GroupId", "BrandId", "CurrencyId"),
            (Action.REPLACE,),
            set_fields=("TradeOutletId",),
            description="Trade outlets' own prices and discounts; replaces all personal prices of the outlets sent.",
        ),
        DataType(
            "ProductImages", models.ProductImages, ("productId",), (Action.CREATE_OR_UPDATE,),
            description="Images of a product, by productId; sets the product's whole list of images.",
        ),
    )
}

SEED_004: tuple[str, ...] = tuple(REGISTRY)
# The types only file imports, exports and procedures take (the seed-004 table stays exactly the seed's).
REGISTRY.update({t.name: t for t in (DOVUTI, *ERP_TYPES, *CRM_TYPES)})


def named(data_type: str, among: tuple[str, ...] | None = None) -> DataType:
    """The data type of that name (in any letter case), or UnsupportedImport naming the known ones."""
    known = among or tuple(REGISTRY)
    found = next((REGISTRY[name] for name in known if name.casefold() == data_type.casefold()), None)
    if found is None:
        raise UnsupportedImport("dataType", f"Unknown dataType {shown(data_type)}; known: {', '.join(known)}.", known)
    return found


def resolve(data_type: str, action: str, among: tuple[str, ...] | None = None) -> tuple[DataType, Action]:
    """The data type and action of an import, or UnsupportedImport naming what is allowed.

    The seed's own generic example writes "orders" and "create", so names are matched without regard to case.
    """
    found = named(data_type, among)
    allowed = tuple(a.value for a in found.actions)
    for candidate in found.actions:
        if candidate.value.casefold() == action.casefold():
            return found, candidate
    raise UnsupportedImport(
        "actionType", f"{found.name} supports {', '.join(allowed)}; not {shown(action)}.", allowed
    )


@cache
def _row_schema(model: type) -> dict[str, Any]:
    return TypeAdapter(model).json_schema()


def describe(among: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The table for GET /import/types and /job-types: each type's actions, keys and row schema."""
    return [
        {
            "dataType": t.name,
            "actionTypes": [a.value for a in t.actions],
            "keyFields": list(t.key_fields),
            "setFields": list(t.set_fields),
            "description": t.description,
            "schema": _row_schema(t.model),
        }
        for t in (REGISTRY[name] for name in (among or tuple(REGISTRY)))
    ]
