"""The ERP procedures' parts on the demo ERP (SQLite through SQLAlchemy), in-memory files and an SQLite entity store."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ferry.datatypes.registry import REGISTRY, named
from ferry.datatypes.validation import validate_rows
from ferry.procedures.catalogue import ERP_TABLES, RunContext
from ferry.procedures.erp import TABLES
from ferry.procedures.erp_parts import ExportToErp, FullImportFromErp, ImportFromErp, LoadFromIntegrator
from ferry.procedures.sqlalchemy_erp import SqlAlchemyErp
from ferry.procedures.staging import Staging
from ferry.store.port import Action, Collection, WriteRow
from ferry.store.sqlite import SqliteEntityStore
from ferry.testing import InMemoryFiles, StillClock
from ferry_local import demo_erp
from ferry_local.demo_erp import build_demo_erp

TENANT = "acme"


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.erp_path = tmp_path / "erp.sqlite3"
        self.url = build_demo_erp(self.erp_path)
        self.files = InMemoryFiles()
        self.staging = Staging(self.files)
        self.store = SqliteEntityStore(str(tmp_path / "entities.sqlite3"))
        self.clock = StillClock()
        self.reports: list[str] = []

    def erp(self, tenant: str) -> SqlAlchemyErp:
        assert tenant == TENANT
        return SqlAlchemyErp(self.url)

    def run(self, job_id: str = "01JOB0000000000000000000A1", **args) -> RunContext:
        return RunContext(TENANT, job_id, args, self.reports.append)

    def erp_rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.erp_path) as conn:
            return conn.execute(sql).fetchall()

    def erp_execute(self, sql: str, *params) -> None:
        with sqlite3.connect(self.erp_path) as conn:
            conn.execute(sql, params)

    def staged(self, table: str) -> list[dict]:
        return list(self.staging.rows(TENANT, table))

    def store_orders(self, docs: list[dict]) -> None:
        valid, invalid = validate_rows(named("Orders"), docs, 0)
        assert invalid == []
        self.store.write_batch(Collection(TENANT, "Orders"), Action.CREATE_OR_UPDATE, valid, writer="01PLATFORM", now="2026-11-22T03:00:00.000Z")


@pytest.fixture
def setup(tmp_path) -> Setup:
    return Setup(tmp_path)


def platform_orders(count: int) -> list[dict]:
    return [
        {
            "number": f"APP-{n:04d}", "accountCode": f"CLI-{n % 20 + 1:04d}", "agentCode": "AG02", "date": "2026-11-21",
            "lines": [{"itemCode": f"ART-{line:04d}", "quantity": float(n + line), "price": 1.25} for line in range(1, n % 3 + 2)],
        }
        for n in range(1, count + 1)
    ]


def test_every_erp_table_maps_to_a_registered_data_type():
    assert tuple(TABLES) == ERP_TABLES
    assert all(table.data_type in REGISTRY for table in TABLES.values())


def test_a_full_import_stages_every_table_in_the_erps_own_columns(setup):
    outcome = FullImportFromErp(setup.erp, setup.staging)(setup.run())

    assert outcome.counts == {
        "Item": len(demo_erp.ITEMS), "ItemOfflineAvailability": len(demo_erp.ITEM_OFFLINE_AVAILABILITY),
        "Account": len(demo_erp.ACCOUNTS), "Agent": len(demo_erp.AGENTS), "Price": len(demo_erp.PRICES),
        "Order": len(demo_erp.ORDERS),
    }
    assert setup.staged("Item")[0] == demo_erp.ITEMS[0]
    first_order = setup.staged("Order")[0]
    assert first_order["OrderDate"] == "2026-11-02"
    assert [line["ItemCode"] for line in first_order["OrderLine"]] == ["ART-0001", "ART-0006"]
    assert f"Item: {len(demo_erp.ITEMS)} rows" in setup.reports
    assert set(setup.files.files) == {f"staging/{TENANT}/{table}.jsonl" for table in ERP_TABLES}


def test_an_import_run_again_replaces_the_staged_table(setup):
    part = FullImportFromErp(setup.erp, setup.staging)
    part(setup.run())
    setup.erp_execute('DELETE FROM "Agent" WHERE AgentCode = ?', "AG03")
    part(setup.run())

    assert [row["AgentCode"] for row in setup.staged("Agent")] == ["AG01", "AG02"]


def test_import_from_erp_stages_only_the_tables_named(setup):
    outcome = ImportFromErp(setup.erp, setup.staging)(setup.run(tables=["item", "Price", "Item"]))

    assert list(outcome.counts) == ["Item", "Price"]
    assert [t for t in ERP_TABLES if setup.staging.has(TENANT, t)] == ["Item", "Price"]


@pytest.mark.parametrize("tables", [["Item", "Invoice"], [], None])
def test_import_from_erp_refuses_an_unknown_or_missing_table_list(setup, tables):
    with pytest.raises(ValueError, match="Item, ItemOfflineAvailability"):
        ImportFromErp(setup.erp, setup.staging)(setup.run(tables=tables))
    assert setup.files.files == {}


def test_load_from_integrator_stores_validated_rows_and_counts_the_refused_ones(setup):
    setup.erp_execute('INSERT INTO "Item" VALUES (?, ?, ?, ?)', "ART-9999", "Bad image", "PZ", "ftp://example.org/x.jpg")
    setup.erp_execute('INSERT INTO "Price" VALUES (?, ?, ?, ?)', "ART-0001", "LISTINO-ERRATO", -3.5, "EUR")
    FullImportFromErp(setup.erp, setup.staging)(setup.run())

    load = LoadFromIntegrator(setup.staging, setup.store, setup.clock)
    outcome = load(setup.run())

    staged = len(demo_erp.ITEMS) + len(demo_erp.ITEM_OFFLINE_AVAILABILITY) + len(demo_erp.ACCOUNTS) + len(demo_erp.AGENTS)
    staged += len(demo_erp.PRICES) + len(demo_erp.ORDERS) + 2
    assert outcome.counts == {"loaded": staged - 2, "refused": 2}
    assert len(outcome.problems) == 2
    assert outcome.problems[0].startswith(f"Item row {len(demo_erp.ITEMS) + 1} (ART-9999): imageUrl:")
    assert outcome.problems[1].startswith("Price row ") and "(ART-0001/LISTINO-ERRATO): price:" in outcome.problems[1]
    assert setup.store.count(Collection(TENANT, "Items")) == len(demo_erp.ITEMS)
    assert setup.store.count(Collection(TENANT, "Prices")) == len(demo_erp.PRICES)

    accounts = setup.store.get(Collection(TENANT, "Accounts"), ["CLI-0001", "CLI-0002", "CLI-0020"])
    assert accounts["CLI-0001"]["address"] == {"street": "Via Roma 12", "city": "Milano", "postalCode": "20121", "country": "IT"}
    assert accounts["CLI-0001"]["geoCoordinate"] == {"latitude": 45.4641, "longitude": 9.1896}
    assert "geoCoordinate" not in accounts["CLI-0002"]
    assert accounts["CLI-0020"]["agentCode"] is None
    items = setup.store.get(Collection(TENANT, "Items"), ["ART-0009"])
    assert items["ART-0009"]["imageUrl"] is None
    order = setup.store.get(Collection(TENANT, "Orders"), ["ERP-2026-0002"])["ERP-2026-0002"]
    assert order["date"] == "2026-11-09" and [line["itemCode"] for line in order["lines"]] == ["ART-0013", "ART-0008", "ART-0023"]
    assert "Prices: 72 rows loaded, 1 refused" in setup.reports

    # The same job again (a retry): the same rows, the same counts, nothing more in the store.
    assert load(setup.run()).counts == outcome.counts
    assert setup.store.count(Collection(TENANT, "Items")) == len(demo_erp.ITEMS)


def test_load_from_integrator_with_nothing_staged_says_so(setup):
    outcome = LoadFromIntegrator(setup.staging, setup.store, setup.clock)(setup.run())

    assert outcome.counts == {"loaded": 0, "refused": 0}
    assert "Nothing staged" in outcome.summary


def erp_order_counts(setup: Setup) -> dict[str, int]:
    return dict(setup.erp_rows('SELECT OrderNumber, COUNT(*) FROM "Order" GROUP BY OrderNumber'))


def erp_line_counts(setup: Setup) -> dict[str, int]:
    return dict(setup.erp_rows('SELECT OrderNumber, COUNT(*) FROM "OrderLine" GROUP BY OrderNumber'))


def test_export_to_erp_run_twice_writes_each_new_order_once(setup):
    orders = platform_orders(10)
    setup.store_orders(orders)
    # The ERP's own orders, loaded into the store, are already in the ERP: never written back.
    ImportFromErp(setup.erp, setup.staging)(setup.run(tables=["Order"]))
    LoadFromIntegrator(setup.staging, setup.store, setup.clock)(setup.run())
    export = ExportToErp(setup.erp, setup.store, setup.clock)

    first = export(setup.run("01JOB0000000000000000000E1"))
    second = export(setup.run("01JOB0000000000000000000E2"))

    assert first.counts == {"written": 10, "already": 2, "refused": 0}
    assert second.counts == {"written": 0, "already": 12, "refused": 0}
    assert erp_order_counts(setup) == {o["number"]: 1 for o in orders} | {"ERP-2026-0001": 1, "ERP-2026-0002": 1}
    assert erp_line_counts(setup) == {o["number"]: len(o["lines"]) for o in orders} | {"ERP-2026-0001": 2, "ERP-2026-0002": 3}
    assert setup.erp_rows('SELECT "OrderDate", "Quantity", "Price" FROM "Order" JOIN "OrderLine" USING (OrderNumber) '
                          "WHERE OrderNumber = 'APP-0002' AND LineNumber = 3") == [("2026-11-21", 5, 1.25)]
    assert setup.erp_rows('SELECT DISTINCT JobId FROM "ExportedOrder"') == [("01JOB0000000000000000000E1",)]
    assert "Orders: 10 written to the ERP, 2 already there" in setup.reports


class CrashAfter:
    """An ERP connection whose process dies right after the Nth order committed, before anyone learns it did."""

    def __init__(self, inner: SqlAlchemyErp, orders: int) -> None:
        self.inner = inner
        self.left = orders

    def read(self, table, batch_rows):
        return self.inner.read(table, batch_rows)

    def known_orders(self, numbers):
        return self.inner.known_orders(numbers)

    def write_order(self, order, *, writer, now):
        wrote = self.inner.write_order(order, writer=writer, now=now)
        self.left -= 1
        if self.left == 0:
            raise ConnectionError("the worker died")
        return wrote

    def close(self):
        self.inner.close()


def test_an_export_that_crashes_halfway_then_runs_again_writes_every_order_exactly_once(setup):
    orders = platform_orders(10)
    setup.store_orders(orders)
    crashing = ExportToErp(lambda tenant: CrashAfter(setup.erp(tenant), 5), setup.store, setup.clock)

    with pytest.raises(ConnectionError):
        crashing(setup.run())
    assert len(erp_order_counts(setup)) == 2 + 5
    retried = ExportToErp(setup.erp, setup.store, setup.clock)(setup.run())

    assert retried.counts == {"written": 5, "already": 5, "refused": 0}
    assert erp_order_counts(setup) == {o["number"]: 1 for o in orders} | {"ERP-2026-0001": 1, "ERP-2026-0002": 1}
    assert erp_line_counts(setup) == {o["number"]: len(o["lines"]) for o in orders} | {"ERP-2026-0001": 2, "ERP-2026-0002": 3}


def test_an_order_the_erp_refuses_is_named_and_leaves_nothing_of_it_behind(setup):
    setup.store_orders(platform_orders(2))
    # Written past validation, as a store holding older data might have it: a line without its item.
    broken = {"number": "APP-BROKEN", "accountCode": "CLI-0001", "lines": [{"quantity": 1.0}]}
    setup.store.write_batch(
        Collection(TENANT, "Orders"), Action.CREATE_OR_UPDATE, [WriteRow(0, "APP-BROKEN", broken)],
        writer="01OLD", now="2026-11-22T03:00:00.000Z",
    )

    outcome = ExportToErp(setup.erp, setup.store, setup.clock)(setup.run())

    assert outcome.counts == {"written": 2, "already": 0, "refused": 1}
    assert outcome.problems[0].startswith("order APP-BROKEN:")
    assert "APP-BROKEN" not in erp_order_counts(setup)
    assert setup.erp_rows("SELECT COUNT(*) FROM \"ExportedOrder\" WHERE OrderNumber = 'APP-BROKEN'") == [(0,)]


def test_the_store_pages_through_every_order(setup, monkeypatch):
    monkeypatch.setattr("ferry.procedures.erp_parts.EXPORT_PAGE", 3)
    setup.store_orders(platform_orders(8))

    outcome = ExportToErp(setup.erp, setup.store, setup.clock)(setup.run())

    assert outcome.counts["written"] == 8
    assert len(erp_order_counts(setup)) == 2 + 8


def test_the_layer_reaches_sql_server_through_its_own_driver():
    # The README's URL: the driver ships in the layer, so an ERP nobody listens for fails at connecting, not at importing.
    erp = SqlAlchemyErp("mssql+pymssql://ferry:secret@127.0.0.1:9/erp?login_timeout=2")
    with pytest.raises(Exception) as failed:
        next(erp.read("Item", 100))
    assert "OperationalError" in type(failed.value).__name__ and "secret" not in str(failed.value)
