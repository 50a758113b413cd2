"""The CRM data types (seed 003): the demo records validate, labels head every column, the checks across fields hold."""
from __future__ import annotations

import pytest

from ferry.datatypes.crm import CRM_TYPES
from ferry.datatypes.paths import field_paths
from ferry.datatypes.validation import validate_rows
from ferry.store.port import Action
from ferry_local.demo_crm import demo_crm_rows

TYPES = {t.name: t for t in CRM_TYPES}


def _errors(name: str, row: dict) -> list[tuple[str, str]]:
    _, errors = validate_rows(TYPES[name], [row], 0)
    return [(e.field, e.code) for e in errors]


def test_the_seed_areas_but_tasks_each_have_a_type_keyed_by_id():
    assert set(TYPES) == {"Contacts", "Activities", "Estates", "History", "Projects", "Appointments"}
    for data_type in CRM_TYPES:
        assert data_type.key_fields == ("id",)
        assert data_type.actions == (Action.CREATE, Action.UPDATE, Action.CREATE_OR_UPDATE)


def test_every_demo_row_validates_and_keys_are_unique():
    demo = demo_crm_rows()
    assert set(demo) == set(TYPES)
    for name, rows in demo.items():
        valid, errors = validate_rows(TYPES[name], rows, 0)
        assert errors == [], name
        assert [w.doc for w in valid] == rows  # stored exactly as sent
        assert len({w.key for w in valid}) == len(rows), name


def test_demo_rows_are_the_same_on_every_call():
    assert demo_crm_rows() == demo_crm_rows()


def test_demo_contacts_have_one_to_three_emails_and_phones():
    contacts = demo_crm_rows()["Contacts"]
    assert len(contacts) == 25
    assert {len(c["emails"]) for c in contacts} == {1, 2, 3}
    assert all(len(c["phones"]) == len(c["emails"]) for c in contacts)


def test_demo_references_point_at_demo_records():
    demo = demo_crm_rows()
    contacts, estates = {c["id"] for c in demo["Contacts"]}, {e["id"] for e in demo["Estates"]}
    assert {e["ownerId"] for e in demo["Estates"]} <= contacts
    for name in ("Activities", "Projects", "Appointments"):
        assert {c for row in demo[name] for c in row["contactIds"]} <= contacts, name
    for name in ("Activities", "Projects"):
        assert {e for row in demo[name] for e in row["estateIds"]} <= estates, name
    assert {a["estateId"] for a in demo["Appointments"]} - {None} <= estates


@pytest.mark.parametrize("name", sorted(TYPES))
def test_only_the_key_is_required(name):
    assert _errors(name, {"id": "X1"}) == []
    assert _errors(name, {"name": "no key"})[0] == ("id", "missing")


@pytest.mark.parametrize("name", sorted(TYPES))
def test_unknown_fields_are_refused(name):
    assert ("colour", "extra_forbidden") in _errors(name, {"id": "X1", "colour": "red"})


@pytest.mark.parametrize("name", ["Contacts", "Estates"])
def test_unknown_fields_of_the_address_are_refused(name):
    assert _errors(name, {"id": "X1", "address": {"city": "Berlin", "floor": 3}}) == [("address.floor", "extra_forbidden")]


@pytest.mark.parametrize("name", sorted(TYPES))
def test_labels_name_every_leaf_path_and_no_other(name):
    data_type = TYPES[name]
    assert set(data_type.labels) == set(field_paths(data_type.model))
    # A header row of labels must tell its columns apart.
    assert len(set(data_type.labels.values())) == len(data_type.labels)


def test_nested_fields_are_labelled_by_their_dotted_path():
    assert TYPES["Contacts"].label("address.postalCode") == "Postal code"
    assert TYPES["Estates"].label("address.city") == "City"


def test_contacts_emails_and_phones_are_lists_of_one_cell():
    paths = field_paths(TYPES["Contacts"].model)
    assert (paths["emails"], paths["phones"]) == ("array", "array")


def test_contacts_emails_and_phones_are_checked_item_by_item():
    row = {"id": "C1", "emails": ["a@example.de", "not an address"], "phones": ["+49 30 123456", "call me"]}
    assert _errors("Contacts", row) == [("emails.1", "value_error"), ("phones.1", "value_error")]
    # "|" joins the items of a CSV cell: an address holding it would be read back as two.
    assert _errors("Contacts", {"id": "C1", "emails": ["a|b@example.de"]}) == [("emails.0", "value_error")]
    assert _errors("Contacts", {"id": "C1", "phones": ["12"]}) == [("phones.0", "value_error")]


def test_dates_and_timestamps_must_be_real():
    assert _errors("Contacts", {"id": "C1", "birthDate": "1980-02-30"}) == [("birthDate", "value_error")]
    assert _errors("History", {"id": "H1", "timestamp": "2025-03-01T25:00"}) == [("timestamp", "value_error")]
    assert _errors("History", {"id": "H1", "timestamp": "01.03.2025 10:00"}) == [("timestamp", "string_pattern_mismatch")]
    assert _errors("History", {"id": "H1", "timestamp": "2025-03-01 10:00"}) == []  # local time, as onOffice writes it


def test_closed_sets_and_ranges():
    assert _errors("Estates", {"id": "E1", "marketingType": "swap"}) == [("marketingType", "literal_error")]
    assert _errors("Estates", {"id": "E1", "price": -1}) == [("price", "greater_than_equal")]
    assert _errors("Estates", {"id": "E1", "rooms": float("nan")}) == [("rooms", "finite_number")]
    assert _errors("Projects", {"id": "P1", "priority": 6}) == [("priority", "less_than_equal")]


def test_an_appointment_ends_after_it_starts_on_its_date():
    base = {"id": "M1", "date": "2025-04-02", "start": "2025-04-02T10:00:00+02:00"}
    assert _errors("Appointments", {**base, "end": "2025-04-02T11:00:00+02:00"}) == []
    assert _errors("Appointments", {**base, "end": "2025-04-02T09:00:00+02:00"}) == [("", "value_error")]
    assert _errors("Appointments", {**base, "end": "2025-04-02T11:00:00"}) == [("", "value_error")]  # offset and local time
    assert _errors("Appointments", {**base, "date": "2025-04-03", "end": "2025-04-02T11:00:00+02:00"}) == [("", "value_error")]
    # An update of the end alone cannot be compared with the stored start.
    assert _errors("Appointments", {"id": "M1", "end": "2025-04-02T09:00:00+02:00"}) == []


def test_a_project_is_not_due_before_it_starts():
    assert _errors("Projects", {"id": "P1", "startDate": "2025-05-01", "dueDate": "2025-04-30"}) == [("", "value_error")]
    assert _errors("Projects", {"id": "P1", "startDate": "2025-05-01", "dueDate": None}) == []
