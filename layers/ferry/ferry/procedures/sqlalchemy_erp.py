"""The ErpSource port on SQLAlchemy Core: any database SQLAlchemy reaches by URL (SQL Server, PostgreSQL, the local stack's SQLite).

Only the worker's wiring imports this module, so SQLAlchemy never loads in the API function.

The tables below are the ERP's, as far as Ferry reads and writes them: a real ERP
has more columns, which Ferry neither selects nor needs. ExportedOrder is Ferry's own:
the ledger of the orders it exported, created on first use. An exported order, its
lines and its ledger row are inserted in one transaction, so a retry after a crash
finds the order either wholly there (and skips it) or not at all (and writes it).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import islice
from typing import Any

import sqlalchemy as sa

from ferry.procedures.erp import LINES, OrderRefused, Row

# Oracle takes at most 1,000 items in an IN list and SQL Server 2,100 parameters a statement.
_IN_LIST = 1000

METADATA = sa.MetaData()
_CODE = sa.String(50)
# Read as floats: they become JSON numbers, and no ERP quantity or price needs more than a double's digits.
_AMOUNT = sa.Numeric(18, 4, asdecimal=False)

ITEM = sa.Table(
    "Item", METADATA,
    sa.Column("ItemCode", _CODE, primary_key=True),
    sa.Column("Description", sa.String(200)),
    sa.Column("UnitOfMeasure", sa.String(10)),
    sa.Column("ImageUrl", sa.String(2048)),
)
ITEM_OFFLINE_AVAILABILITY = sa.Table(
    "ItemOfflineAvailability", METADATA,
    sa.Column("ItemCode", _CODE, primary_key=True),
    sa.Column("Warehouse", _CODE, primary_key=True),
    sa.Column("Quantity", _AMOUNT),
)
ACCOUNT = sa.Table(
    "Account", METADATA,
    sa.Column("AccountCode", _CODE, primary_key=True),
    sa.Column("CompanyName", sa.String(200)),
    sa.Column("AgentCode", _CODE),
    sa.Column("Street", sa.String(200)),
    sa.Column("City", sa.String(100)),
    sa.Column("PostalCode", sa.String(20)),
    sa.Column("Country", sa.String(2)),
    sa.Column("Latitude", sa.Float),
    sa.Column("Longitude", sa.Float),
)
AGENT = sa.Table(
    "Agent", METADATA,
    sa.Column("AgentCode", _CODE, primary_key=True),
    sa.Column("Name", sa.String(200)),
    sa.Column("Email", sa.String(200)),
)
PRICE = sa.Table(
    "Price", METADATA,
    sa.Column("ItemCode", _CODE, primary_key=True),
    sa.Column("PriceList", _CODE, primary_key=True),
    sa.Column("Price", _AMOUNT),
    sa.Column("Currency", sa.String(3)),
)
ORDER = sa.Table(
    "Order", METADATA,
    sa.Column("OrderNumber", _CODE, primary_key=True),
    sa.Column("AccountCode", _CODE, nullable=False),
    sa.Column("AgentCode", _CODE),
    sa.Column("OrderDate", sa.Date),
)
ORDER_LINE = sa.Table(
    LINES, METADATA,
    sa.Column("OrderNumber", _CODE, sa.ForeignKey("Order.OrderNumber"), primary_key=True),
    sa.Column("LineNumber", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ItemCode", _CODE, nullable=False),
    sa.Column("Quantity", _AMOUNT, nullable=False),
    sa.Column("Price", _AMOUNT),
)
EXPORTED_ORDER = sa.Table(
    "ExportedOrder", METADATA,
    sa.Column("OrderNumber", _CODE, primary_key=True),
    sa.Column("JobId", sa.String(26), nullable=False),
    sa.Column("ExportedAt", sa.DateTime, nullable=False),
)
_READABLE = {t.name: t for t in (ITEM, ITEM_OFFLINE_AVAILABILITY, ACCOUNT, AGENT, PRICE, ORDER)}


class SqlAlchemyErp:
    def __init__(self, url: str) -> None:
        # pre_ping: a warm Lambda's pooled connection may have been closed by the ERP's server since the last run.
        self._engine = sa.create_engine(url, pool_pre_ping=True)
        self._ledger_ready = False

    def read(self, table: str, batch_rows: int) -> Iterator[list[Row]]:
        source = _READABLE[table]
        query = sa.select(source).order_by(*source.primary_key.columns)
        with self._engine.connect() as conn:
            # Server-side cursor where the driver has one: the table is never whole in memory.
            result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
            for partition in result.mappings().partitions():
                rows = [{name: _json_value(value) for name, value in row.items()} for row in partition]
                if source is ORDER:
                    self._attach_lines(rows)
                yield rows

    def _attach_lines(self, orders: list[Row]) -> None:
        by_number = {order["OrderNumber"]: order for order in orders}
        for order in orders:
            order[LINES] = []
        # Another connection: the orders' cursor may still be open on the first, and not every driver reads two at once.
        with self._engine.connect() as conn:
            for numbers in _slices(list(by_number), _IN_LIST):
                query = (
                    sa.select(ORDER_LINE)
                    .where(ORDER_LINE.c.OrderNumber.in_(numbers))
                    .order_by(ORDER_LINE.c.OrderNumber, ORDER_LINE.c.LineNumber)
                )
                for line in conn.execute(query).mappings():
                    by_number[line["OrderNumber"]][LINES].append({name: _json_value(value) for name, value in line.items()})

    def known_orders(self, numbers: Sequence[str]) -> set[str]:
        self._ensure_ledger()
        with self._engine.connect() as conn:
            return {n for part in _slices(list(numbers), _IN_LIST) for n in _known(conn, part)}

    def write_order(self, order: Row, *, writer: str, now: datetime) -> bool:
        self._ensure_ledger()
        number = order["OrderNumber"]
        try:
            with self._engine.begin() as conn:
                if _known(conn, [number]):
                    return False
                # The ledger row first: a concurrent export of the same order fails here, before writing anything.
                conn.execute(sa.insert(EXPORTED_ORDER).values(OrderNumber=number, JobId=writer, ExportedAt=_naive_utc(now)))
                conn.execute(sa.insert(ORDER).values(_db_values(ORDER, {k: v for k, v in order.items() if k != LINES})))
                if order[LINES]:
                    conn.execute(sa.insert(ORDER_LINE), [_db_values(ORDER_LINE, line) for line in order[LINES]])
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            # Another run committed this number between our check and our insert: it is there, once.
            if self.known_orders([number]):
                return False
            raise OrderRefused(f"order {number}: {exc.orig}") from exc
        return True

    def _ensure_ledger(self) -> None:
        if not self._ledger_ready:
            EXPORTED_ORDER.create(self._engine, checkfirst=True)
            self._ledger_ready = True

    def close(self) -> None:
        self._engine.dispose()


def _known(conn: sa.Connection, numbers: list[str]) -> set[str]:
    """The numbers among these that the ERP has: exported by Ferry (the ledger) or its own (the Order table)."""
    query = sa.union(
        sa.select(EXPORTED_ORDER.c.OrderNumber).where(EXPORTED_ORDER.c.OrderNumber.in_(numbers)),
        sa.select(ORDER.c.OrderNumber).where(ORDER.c.OrderNumber.in_(numbers)),
    )
    return set(conn.execute(query).scalars())


def _slices(items: list[str], size: int) -> Iterator[list[str]]:
    it = iter(items)
    while part := list(islice(it, size)):
        yield part


def _json_value(value: Any) -> Any:
    """A database value as JSON: dates as ISO text, exact numbers as floats (a driver may still answer Decimal)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _naive_utc(moment: datetime) -> datetime:
    # A DateTime without time zone is the one every database has; the ledger's times are UTC.
    return moment.astimezone(UTC).replace(tzinfo=None)


def _db_values(table: sa.Table, row: Row) -> Row:
    """A JSON row as the table's column types take it: ISO dates back to dates."""
    return {
        name: date.fromisoformat(value) if isinstance(table.c[name].type, sa.Date) and isinstance(value, str) else value
        for name, value in row.items()
    }
