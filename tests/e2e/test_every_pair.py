"""Every dataType/actionType pair of seed 004, through the API, checked in the entity store."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ferry.datatypes.registry import REGISTRY, SEED_004
from ferry.store.port import Collection, Query

SEED = Path(__file__).parent.parent / "fixtures" / "seed_004"


def seed_rows(name: str) -> list[dict[str, Any]]:
    return json.loads((SEED / name).read_text(encoding="utf-8"))["data"]


def business(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


# One first row per keyed data type: from the seed where it has an example, designed otherwise.
FIRST_ROWS: dict[str, dict[str, Any]] = {
    "Products": {"vendorId": "P-1", "name": "Milk 1l", "code": "M1", "vatRate": 20.0, "active": True},
    "Customers": seed_rows("05_customers.json")[0],
    "Relationships": seed_rows("06_relationships.json")[0],
    "TradeOutlets": {"vendorId": "TO-1", **seed_rows("07_product_prices_with_trade_outlet_fields.json")[0]},
    "Tasks": {"vendorId": "T-1", "name": "Visit the shop", "dateFrom": "2026-11-23"},
    "ProductImages": seed_rows("08_product_images_by_url.json")[0],
}
CHANGED_NAME = {"Products": "name", "Customers": "name", "Relationships": "name", "TradeOutlets": "name"}

PAIRS = [(name, action.value) for name in SEED_004 for action in REGISTRY[name].actions]


def test_the_pairs_are_the_seeds_table():
    assert len(PAIRS) == 18


@pytest.mark.parametrize(("data_type", "action"), [p for p in PAIRS if p[1] in ("Create", "CreateOrUpdate")])
def test_create_and_upsert_store_the_rows(fresh, entities, data_type, action):
    row = FIRST_ROWS[data_type]
    job = fresh.client.wait(fresh.client.import_rows(data_type, action, [row]))
    assert job["status"] == "finished", job
    key = REGISTRY[data_type].key_of(row)
    stored = entities.get(Collection(fresh.tenant, data_type), [key])
    assert business(stored[key]) == row


@pytest.mark.parametrize("data_type", [dt for dt, action in PAIRS if action == "Update"])
def test_update_changes_only_the_fields_sent(fresh, entities, data_type):
    row = FIRST_ROWS[data_type]
    client = fresh.client
    client.wait(client.import_rows(data_type, "CreateOrUpdate", [row]))
    key_fields = REGISTRY[data_type].key_fields
    change = {**{f: row[f] for f in key_fields}, CHANGED_NAME[data_type]: "Renamed"}
    job = client.wait(client.import_rows(data_type, "Update", [change]))
    assert job["status"] == "finished", job
    key = REGISTRY[data_type].key_of(row)
    assert business(entities.get(Collection(fresh.tenant, data_type), [key])[key]) == {**row, CHANGED_NAME[data_type]: "Renamed"}


def test_replace_product_prices_replaces_the_prices_of_the_products_sent(fresh, entities):
    client = fresh.client
    prices = seed_rows("03_product_prices.json")  # products 000000009 and 000005453
    client.wait(client.import_rows("ProductPrices", "Replace", prices))
    new_price = {"ProductId": "000000009", "PriceCategoryId": "000000003", "Price": 18, "CurrencyId": "980"}
    job = client.wait(client.import_rows("ProductPrices", "Replace", [new_price]))
    assert job["status"] == "finished", job
    coll = Collection(fresh.tenant, "ProductPrices")
    stored = [business(d) for d in entities.query(coll, query_all()).docs]
    assert sorted(stored, key=lambda d: d["ProductId"]) == [new_price, prices[1]]


@pytest.mark.parametrize(
    ("data_type", "fixture"),
    [("InvoiceDebts", "02_invoice_debts.json"), ("RelationshipDebts", "01_relationship_debts.json"), ("PersonalPrices", "04_personal_prices.json")],
)
def test_replace_stores_the_seed_examples_and_replaces_their_sets(fresh, entities, data_type, fixture):
    client = fresh.client
    rows = seed_rows(fixture)
    job = client.wait(client.import_rows(data_type, "Replace", rows))
    assert job["status"] == "finished" and job["progress"]["succeeded"] == len(rows), job
    coll = Collection(fresh.tenant, data_type)
    stored = [business(d) for d in entities.query(coll, query_all()).docs]
    by_key = REGISTRY[data_type].key_of
    assert sorted(stored, key=by_key) == sorted(rows, key=by_key)
    replacement = json.loads(json.dumps(rows[0]))
    for field in ("Debts", "Discount"):
        if field in replacement:
            replacement[field] = [] if field == "Debts" else 5
    client.wait(client.import_rows(data_type, "Replace", [replacement]))
    key = REGISTRY[data_type].key_of(replacement)
    assert business(entities.get(coll, [key])[key]) == replacement
    assert entities.count(coll) == len(rows)


def query_all() -> Query:
    return Query(limit=1000)

