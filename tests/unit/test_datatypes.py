"""The data type registry (seed 004's table) and the validation of import rows."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ferry.datatypes.datatype import KEY_SEPARATOR
from ferry.datatypes.registry import REGISTRY, SEED_004, UnsupportedImport, describe, resolve
from ferry.datatypes.validation import RowError, validate_json_rows, validate_rows
from ferry.store.port import Action

SEED_BODIES = Path(__file__).parent.parent / "fixtures" / "seed_004"

EDITABLE = {"Create", "Update", "CreateOrUpdate"}
SEED_TABLE = {
    "Products": EDITABLE,
    "ProductPrices": {"Replace"},
    "InvoiceDebts": {"Replace"},
    "RelationshipDebts": {"Replace"},
    "Customers": EDITABLE,
    "Relationships": EDITABLE,
    "TradeOutlets": EDITABLE,
    "Tasks": {"Create"},
    "PersonalPrices": {"Replace"},
    "ProductImages": {"CreateOrUpdate"},
}
# The seed's second "ProductPrices" body shows trade-outlet fields; its second ProductImages
# body carries a base64 string of 603 characters, which cannot be base64.
MISLABELLED = "07_product_prices_with_trade_outlet_fields.json"
CORRUPT_BASE64 = "09_product_images_by_content.json"


def seed_body(name: str) -> dict:
    return json.loads((SEED_BODIES / name).read_bytes())


def validate(data_type: str, rows: list, first_row: int = 0) -> tuple[list, list[RowError]]:
    return validate_rows(REGISTRY[data_type], rows, first_row)


def customer(n: int = 1, **changes) -> dict:
    row = copy.deepcopy(seed_body("05_customers.json")["data"][0])
    row["vendorId"] = f"C{n}"
    row.update(changes)
    return row


# --- the registry ---------------------------------------------------------------------------------


def test_the_seed_004_table_is_exactly_the_seeds():
    assert {name: {a.value for a in REGISTRY[name].actions} for name in SEED_004} == SEED_TABLE
    # file imports, exports and procedures take more types than /import
    erp = {"Items", "ItemOfflineAvailability", "Accounts", "Agents", "Prices", "Orders"}
    crm = {"Contacts", "Estates", "Activities", "History", "Projects", "Appointments"}
    assert set(REGISTRY) - set(SEED_004) == {"Dovuti"} | erp | crm
    for data_type, actions in SEED_TABLE.items():
        for action in actions:
            found, resolved = resolve(data_type, action)
            assert (found.name, resolved) == (data_type, Action(action))


@pytest.mark.parametrize(
    ("data_type", "action", "allowed"),
    [
        ("Customers", "Replace", "Create, Update, CreateOrUpdate"),
        ("ProductPrices", "Create", "Replace"),
        ("ProductPrices", "CreateOrUpdate", "Replace"),
        ("Tasks", "Update", "Create"),
        ("ProductImages", "Create", "CreateOrUpdate"),
        ("PersonalPrices", "Delete", "Replace"),
    ],
)
def test_forbidden_pairs_are_refused_naming_the_allowed_actions(data_type, action, allowed):
    with pytest.raises(UnsupportedImport) as refused:
        resolve(data_type, action)
    assert refused.value.field == "actionType"
    assert f"{data_type} supports {allowed}" in str(refused.value)
    assert ", ".join(refused.value.allowed) == allowed


def test_an_unknown_data_type_is_refused_naming_the_known_ones():
    with pytest.raises(UnsupportedImport) as refused:
        resolve("Orders", "Create", SEED_004)
    assert refused.value.field == "dataType"
    assert set(refused.value.allowed) == set(SEED_TABLE)
    assert all(name in str(refused.value) for name in SEED_TABLE)


def test_names_match_regardless_of_case_as_in_the_seeds_generic_example():
    data_type, action = resolve("customers", "create")
    assert (data_type.name, action) == ("Customers", Action.CREATE)


def test_describe_lists_each_type_with_actions_keys_and_row_schema():
    described = {d["dataType"]: d for d in describe(SEED_004)}
    assert set(described) == set(SEED_TABLE)
    prices = described["ProductPrices"]
    assert prices["actionTypes"] == ["Replace"]
    assert prices["keyFields"] == ["ProductId", "PriceCategoryId", "CurrencyId"]
    assert prices["setFields"] == ["ProductId"]
    customers = described["Customers"]["schema"]
    assert customers["required"] == ["vendorId"] and customers["additionalProperties"] is False
    json.dumps(describe())  # served as is


# --- the seed's examples --------------------------------------------------------------------------


def test_the_seed_bodies_with_null_are_kept_as_written_next_to_a_json_twin():
    with_null = [p for p in SEED_BODIES.iterdir() if b"NULL" in p.read_bytes()]
    assert with_null
    for raw in with_null:
        twin = raw.with_name(raw.name.removesuffix(".seed.txt") + ".json")
        assert twin.read_bytes() == raw.read_bytes().replace(b"NULL", b"null")


@pytest.mark.parametrize(
    "name", sorted(p.name for p in SEED_BODIES.glob("*.json") if p.name not in (MISLABELLED, CORRUPT_BASE64))
)
def test_every_seed_example_validates_for_its_declared_type(name):
    body = seed_body(name)
    valid, errors = validate(body["dataType"], body["data"])
    assert errors == []
    assert [r.row for r in valid] == list(range(len(body["data"])))
    assert [r.doc for r in valid] == body["data"]


def test_the_mislabelled_prices_example_is_a_trade_outlet_without_its_key():
    body = seed_body(MISLABELLED)
    _, errors = validate("ProductPrices", body["data"])
    assert {e.code for e in errors} >= {"extra_forbidden", "missing"}
    assert {"name", "location", "ProductId"} <= {e.field for e in errors}
    outlets = [{"vendorId": f"O{n}", **row} for n, row in enumerate(body["data"])]
    valid, errors = validate("TradeOutlets", outlets)
    assert errors == [] and [r.key for r in valid] == ["O0", "O1"]


def test_the_seeds_image_content_that_is_not_base64_is_refused_at_its_path():
    body = seed_body(CORRUPT_BASE64)
    valid, errors = validate("ProductImages", body["data"])
    assert valid == []
    assert [(e.row, e.field, e.code) for e in errors] == [(0, "images.1.content", "value_error")]
    assert "base64" in errors[0].message
    body["data"][0]["images"].pop()
    valid, errors = validate("ProductImages", body["data"])
    assert errors == [] and valid[0].key == "6"


# --- row errors -----------------------------------------------------------------------------------


def test_unknown_fields_are_refused_with_their_path():
    row = customer(color="red")
    row["location"]["floor"] = 3
    _, errors = validate("Customers", [row])
    assert {(e.field, e.code) for e in errors} == {("color", "extra_forbidden"), ("location.floor", "extra_forbidden")}


def test_bad_nested_values_name_the_dotted_path_and_the_row_in_the_whole_input():
    far_north = customer(2)
    far_north["location"]["geoCoordinate"]["latitude"] = 91
    relationship = seed_body("06_relationships.json")["data"][0]
    relationship["debts"][0]["sum"] = "lots"
    relationship["dateTill"] = "2019-02-30"
    _, errors = validate("Customers", [customer(1), far_north], first_row=10_000)
    assert [(e.row, e.field, e.code) for e in errors] == [(10_001, "location.geoCoordinate.latitude", "less_than_equal")]
    _, errors = validate("Relationships", [relationship], first_row=5)
    assert {(e.row, e.field) for e in errors} == {(5, "debts.0.sum"), (5, "dateTill")}


@pytest.mark.parametrize(
    ("data_type", "row", "field", "code"),
    [
        ("Customers", {"vendorId": ""}, "vendorId", "string_too_short"),
        ("Customers", {"vendorId": 12}, "vendorId", "string_type"),
        ("Customers", {"name": "no key"}, "vendorId", "missing"),
        ("Customers", {"vendorId": "1", "officeId": None}, "officeId", "string_type"),
        ("Customers", {"vendorId": "1", "location": {"countryId": "UKR"}}, "location.addressLine", "missing"),
        ("TradeOutlets", {"vendorId": "1", "freeVisit": "yes"}, "freeVisit", "bool_type"),
        ("Relationships", {"vendorId": "1", "dateFrom": 1514764800}, "dateFrom", "string_type"),
        ("Relationships", {"vendorId": "1", "limit": -1}, "limit", "greater_than_equal"),
        ("ProductPrices", {"ProductId": "1", "PriceCategoryId": "2", "CurrencyId": "980", "Price": -5}, "Price",
         "greater_than_equal"),
        ("ProductPrices", {"ProductId": "1\x1f2", "PriceCategoryId": "2", "CurrencyId": "980", "Price": 5},
         "ProductId", "string_pattern_mismatch"),
        ("InvoiceDebts", {"invoiceId": "1", "Debts": [{"currencyId": "980", "sum": 1}]}, "Debts.0.CurrencyId",
         "missing"),
        ("ProductImages", {"productId": "2", "images": [{"orderIndex": 1}]}, "images.0", "value_error"),
        ("ProductImages", {"productId": "2", "images": [{"orderIndex": 1, "Url": "u", "content": "AAAA"}]},
         "images.0.Url", "value_error"),
        ("ProductImages", {"productId": "2", "images": [{"orderIndex": 1, "content": "not base64!"}]},
         "images.0.content", "value_error"),
        ("Tasks", {"vendorId": "1"}, "name", "missing"),
    ],
)
def test_a_bad_value_is_reported_at_its_field(data_type, row, field, code):
    valid, errors = validate(data_type, [row])
    assert valid == []
    assert (field, code) in {(e.field, e.code) for e in errors}, errors


def test_a_row_that_is_not_an_object_is_an_error_of_the_whole_row():
    valid, errors = validate("Customers", [customer(1), "C2", None, [customer(3)]], first_row=100)
    assert [r.row for r in valid] == [100]
    assert [(e.row, e.field, e.code) for e in errors] == [(101, "", "not_an_object")] + [
        (102, "", "not_an_object"), (103, "", "not_an_object")
    ]


def test_a_mixed_batch_keeps_the_valid_rows_and_reports_the_others():
    rows = [customer(1), customer(2, name=12), customer(3), customer(4, color="red"), customer(5)]
    valid, errors = validate("Customers", rows, first_row=20)
    assert [(r.row, r.key) for r in valid] == [(20, "C1"), (22, "C3"), (24, "C5")]
    assert [(e.row, e.field) for e in errors] == [(21, "name"), (23, "color")]
    assert valid[1].doc == rows[2]


@pytest.mark.parametrize(
    "rows",
    [
        [customer(1), customer(2), customer(3)],
        [customer(1), customer(2, name=12), "C3", None, customer(4, color="red"), customer(5, tradeNetworkId=None)],
        [customer(1, location={"countryId": "UA", "addressLine": "x", "geoCoordinate": {"latitude": "50.5", "longitude": 30}})],
        [customer(1, location={"countryId": "", "addressLine": "x", "geoCoordinate": {"latitude": 95, "longitude": []}})],
    ],
)
def test_a_json_chunk_validated_from_its_bytes_gives_what_its_parsed_rows_give(rows):
    raw = json.dumps(rows, ensure_ascii=False).encode()
    valid, errors, parsed = validate_json_rows(REGISTRY["Customers"], raw, 40)
    assert (valid, errors) == validate("Customers", rows, first_row=40)
    assert parsed == (rows if errors else None)  # the rows as sent, only when some failed


# --- documents, keys and sets ---------------------------------------------------------------------


def test_the_document_holds_only_the_fields_sent():
    (written,), _ = validate("Customers", [{"vendorId": "C1", "name": "Renamed"}])
    assert written.doc == {"vendorId": "C1", "name": "Renamed"}
    assert (written.key, written.set_key) == ("C1", None)


def test_the_document_is_a_copy_of_the_row():
    row = customer(1)
    (written,), _ = validate("Customers", [row])
    written.doc["location"]["settlement"] = "Lviv"
    assert row["location"]["settlement"] == "Киев"


@pytest.mark.parametrize("data_type", ["Customers", "Relationships", "TradeOutlets", "Products", "Tasks"])
def test_editable_types_and_tasks_are_keyed_by_vendor_id(data_type):
    (written,), errors = validate(data_type, [{"vendorId": "V-1", "name": "n"}])
    assert errors == [] and (written.key, written.set_key) == ("V-1", None)


def test_product_prices_are_keyed_by_product_category_and_currency_in_sets_by_product():
    valid, _ = validate("ProductPrices", seed_body("03_product_prices.json")["data"])
    assert [(r.key, r.set_key) for r in valid] == [
        (KEY_SEPARATOR.join(("000000009", "000000002", "980")), "000000009"),
        (KEY_SEPARATOR.join(("000005453", "000000002", "980")), "000005453"),
    ]


def test_personal_prices_are_keyed_with_an_empty_part_for_a_null_or_missing_brand():
    rows = seed_body("04_personal_prices.json")["data"]
    without_brand = {k: v for k, v in rows[1].items() if k != "BrandId"}
    with_brand = {**rows[1], "BrandId": "B7"}
    valid, errors = validate("PersonalPrices", [rows[0], without_brand, with_brand])
    assert errors == []
    assert [(r.key, r.set_key) for r in valid] == [
        (KEY_SEPARATOR.join(("10", "1234567", "", "UAH")), "10"),
        (KEY_SEPARATOR.join(("11", "1234568", "", "UAH")), "11"),
        (KEY_SEPARATOR.join(("11", "1234568", "B7", "UAH")), "11"),
    ]


@pytest.mark.parametrize(
    ("name", "data_type", "keys"),
    [
        ("02_invoice_debts.json", "InvoiceDebts",
         ["906b0048-2068-11e8-80fe-00155d000703", "93eeccd4-25cd-11e8-8101-00155d000703"]),
        ("01_relationship_debts.json", "RelationshipDebts", ["000000044", "000000402"]),
    ],
)
def test_debts_are_keyed_and_replaced_by_their_invoice_or_relationship(name, data_type, keys):
    valid, _ = validate(data_type, seed_body(name)["data"])
    assert [(r.key, r.set_key) for r in valid] == [(k, k) for k in keys]


def test_product_images_are_keyed_by_product():
    (written,), _ = validate("ProductImages", seed_body("08_product_images_by_url.json")["data"])
    assert (written.key, written.set_key) == ("2", None)
