"""The ERP as the procedures see it: a port that reads its tables and takes orders, and how its columns map to the data types.

Rows cross the port in the ERP's own column names (ItemCode, CompanyName, ...), as
plain JSON values, so the staging area keeps what the ERP said and LoadFromIntegrator
maps it to the data types' fields at load time, where a refused row becomes a per-row
error like in any import. An Order row carries its lines under "OrderLine", the
lines' own table, so that an order is one row wherever it goes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ferry.procedures.catalogue import ERP_TABLES

LINES = "OrderLine"  # the key of an Order row's lines, named after their table
Row = dict[str, Any]


class OrderRefused(Exception):
    """The ERP refused an order (a constraint it breaks): that order is not written, the others go on."""


class ErpSource(Protocol):
    """One tenant's ERP database."""

    def read(self, table: str, batch_rows: int) -> Iterator[list[Row]]:
        """Every row of the table (one of catalogue.ERP_TABLES), in batches of at most `batch_rows`, read as consumed."""

    def known_orders(self, numbers: Sequence[str]) -> set[str]:
        """Which of these order numbers the ERP already has, exported by Ferry or its own."""

    def write_order(self, order: Row, *, writer: str, now: datetime) -> bool:
        """Write one order with its lines, or nothing when the ERP already has its number; answers whether it wrote.

        The order, its lines and the record that it was exported commit together or not
        at all, so whatever crashes when, an order is in the ERP once or not yet.
        `writer` (the job id) and `now` are recorded with it. Raises OrderRefused when
        the ERP will not take it.
        """

    def close(self) -> None: ...


# A tenant's ERP: the wiring reads the tenant's connection URL from Secrets Manager and opens it.
ErpSources = Callable[[str], ErpSource]


@dataclass(frozen=True)
class ErpTable:
    """How one ERP table's columns become a data type's fields."""

    name: str  # the ERP table, one of catalogue.ERP_TABLES
    data_type: str  # the registered data type its rows load into
    columns: Mapping[str, str]  # field path (dotted inside a nested object) -> ERP column
    # Fields whose null is a value that clears them; any other null column is a field the row leaves out.
    nullable: frozenset[str] = field(default_factory=frozenset)


TABLES: dict[str, ErpTable] = {
    t.name: t
    for t in (
        ErpTable(
            "Item", "Items",
            {"code": "ItemCode", "description": "Description", "unit": "UnitOfMeasure", "imageUrl": "ImageUrl"},
            frozenset({"imageUrl"}),
        ),
        ErpTable(
            "ItemOfflineAvailability", "ItemOfflineAvailability",
            {"itemCode": "ItemCode", "warehouse": "Warehouse", "quantity": "Quantity"},
        ),
        ErpTable(
            "Account", "Accounts",
            {
                "code": "AccountCode", "name": "CompanyName", "agentCode": "AgentCode",
                "address.street": "Street", "address.city": "City", "address.postalCode": "PostalCode",
                "address.country": "Country",
                "geoCoordinate.latitude": "Latitude", "geoCoordinate.longitude": "Longitude",
            },
            frozenset({"agentCode"}),
        ),
        ErpTable("Agent", "Agents", {"code": "AgentCode", "name": "Name", "email": "Email"}),
        ErpTable("Price", "Prices", {"itemCode": "ItemCode", "priceList": "PriceList", "price": "Price", "currency": "Currency"}),
        ErpTable("Order", "Orders", {"number": "OrderNumber", "accountCode": "AccountCode", "agentCode": "AgentCode", "date": "OrderDate"}),
    )
}
ORDER_LINE_COLUMNS = {"itemCode": "ItemCode", "quantity": "Quantity", "price": "Price"}


def table_named(name: str) -> ErpTable:
    """The ERP table of that name in any letter case, as `?tables=` may write it; ValueError naming the known ones."""
    found = next((t for t in TABLES.values() if t.name.casefold() == name.casefold()), None)
    if found is None:
        raise ValueError(f"Unknown ERP table {name!r}; known: {', '.join(ERP_TABLES)}.")
    return found


def document_of(table: ErpTable, row: Mapping[str, Any]) -> dict[str, Any]:
    """An ERP row as a document of the table's data type, to validate; columns it does not map are left behind."""
    doc = _fields(table.columns, row, table.nullable)
    if table.name == "Order" and LINES in row:
        doc["lines"] = [_fields(ORDER_LINE_COLUMNS, line, frozenset()) for line in row[LINES]]
    return doc


def erp_order_of(doc: Mapping[str, Any]) -> Row:
    """A stored Orders document as the ERP's Order row, its lines numbered from 1 in the order the platform keeps."""
    order = {column: doc.get(path) for path, column in TABLES["Order"].columns.items()}
    order[LINES] = [
        {"OrderNumber": doc["number"], "LineNumber": n, **{column: line.get(path) for path, column in ORDER_LINE_COLUMNS.items()}}
        for n, line in enumerate(doc.get("lines", []), start=1)
    ]
    return order


def _fields(columns: Mapping[str, str], row: Mapping[str, Any], nullable: frozenset[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for path, column in columns.items():
        value = row.get(column)
        if value is None and path not in nullable:
            continue
        *parents, name = path.split(".")
        target = doc
        for parent in parents:
            target = target.setdefault(parent, {})
        target[name] = value
    return doc
