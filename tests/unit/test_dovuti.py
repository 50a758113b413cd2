"""Dovuti (seed 002): the checks of each field, and a municipality's CSV read into valid rows.

The valid codes below were checked by hand against the published algorithms, not
computed with the code under test.
"""
from __future__ import annotations

import io

import pytest
from pydantic import TypeAdapter, ValidationError

from ferry.datatypes.dovuti import DOVUTI, Dovuti
from ferry.datatypes.paths import field_paths
from ferry.imports.formats.csv_table import CsvOptions, open_table, row_of
from ferry.store.port import Action

ADAPTER = TypeAdapter(Dovuti)
DOVUTO = {
    "iuv": "RF18539007547034",
    "codice_fiscale": "RSSMRA85T10A562S",
    "anagrafica": "Mario Rossi",
    "importo": 120.5,
    "data_scadenza": "2025-12-31",
}


def valid(**changes) -> dict:
    return ADAPTER.validate_python({**DOVUTO, **changes})


def refused(**changes) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        valid(**changes)
    return [(".".join(map(str, error["loc"])), error["msg"]) for error in caught.value.errors()]


def message(field: str, value) -> str:
    [(where, text)] = refused(**{field: value})
    assert where == field
    return text


def test_a_dovuto_with_the_required_fields_is_valid_as_sent():
    assert valid() == DOVUTO


def test_the_data_type():
    assert (DOVUTI.name, DOVUTI.key_fields) == ("Dovuti", ("iuv",))
    assert DOVUTI.actions == (Action.CREATE, Action.UPDATE, Action.CREATE_OR_UPDATE)
    assert DOVUTI.key_of(valid()) == "RF18539007547034"


@pytest.mark.parametrize("field", ["iuv", "codice_fiscale", "anagrafica", "importo", "data_scadenza"])
def test_required_fields(field):
    row = {name: value for name, value in DOVUTO.items() if name != field}
    with pytest.raises(ValidationError) as caught:
        ADAPTER.validate_python(row)
    assert [(error["loc"], error["type"]) for error in caught.value.errors()] == [((field,), "missing")]


def test_unknown_fields_are_refused():
    assert refused(importo_totale=3) == [("importo_totale", "Extra inputs are not permitted")]


# --- codice fiscale or partita IVA ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "stored"),
    [
        ("RSSMRA85T10A562S", "RSSMRA85T10A562S"),
        ("rssmra85t10a562s", "RSSMRA85T10A562S"),  # stored in one spelling
        ("RSSMRA85T10A56NH", "RSSMRA85T10A56NH"),  # omocodia: the last digit 2 written N, so the check is H
        ("01234567897", "01234567897"),  # partita IVA
        ("00743110157", "00743110157"),
    ],
)
def test_valid_fiscal_codes_and_vat_numbers(code, stored):
    assert valid(codice_fiscale=code)["codice_fiscale"] == stored


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("RSSMRA85T10A562X", "codice fiscale check character should be S, not X"),
        ("RSSMRA85T10A56NS", "codice fiscale check character should be H, not S"),
        ("RSSMRA85Z10A562S", "a codice fiscale is 6 letters, 2 digits, a month letter"),  # Z is no month
        ("RSSMRA85T10A5W2S", "a codice fiscale is 6 letters"),  # W is no omocodia letter
        ("01234567890", "partita IVA check digit should be 7, not 0"),
        ("0123456789A", "a partita IVA is 11 digits"),
        ("RSSMRA85T10A562", "must be a codice fiscale (16 characters) or a partita IVA (11 digits); this has 15"),
    ],
)
def test_invalid_fiscal_codes_and_vat_numbers(code, reason):
    assert reason in message("codice_fiscale", code)


# --- importo --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        ("1.234,56", 1234.56),
        ("1234,56", 1234.56),
        ("12.5", 12.5),
        ("12,5", 12.5),
        ("1,234.56", 1234.56),
        ("1.234.567", 1234567.0),
        (" 0,500 ", 0.5),  # a leading 0 is no thousands group
        (12, 12.0),
        (0.1, 0.1),
        ("999999999,99", 999999999.99),
    ],
)
def test_valid_amounts(amount, stored):
    assert valid(importo=amount)["importo"] == stored


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (0, "must be more than 0 euro"),
        ("0,00", "must be more than 0 euro"),
        (-3, "must be more than 0 euro"),
        ("-3", "must be more than 0 euro"),
        ("1,234", "'1,234' is ambiguous (thousands or decimals?): write 1234 if that is the amount"),
        ("1.234", "'1.234' is ambiguous"),
        (12.345, "must have at most 2 decimals (cents)"),
        ("1234,567", "must have at most 2 decimals (cents)"),
        (1_000_000_000, "must be at most 999999999.99 euro"),
        ("dodici", "'dodici' is not an amount"),
        ("1.23,4", "is not an amount"),
        (True, "must be an amount in euro"),
        (float("nan"), "must be an amount in euro"),
    ],
)
def test_invalid_amounts(amount, reason):
    assert reason in message("importo", amount)


# --- data_scadenza --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("31/12/2025", "2025-12-31"),
        ("1/2/2025", "2025-02-01"),
        ("2025-12-31", "2025-12-31"),
        ("29/02/2024", "2024-02-29"),
    ],
)
def test_due_dates_are_stored_as_iso(written, stored):
    assert valid(data_scadenza=written)["data_scadenza"] == stored


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("29/02/2025", "'29/02/2025' is not a day of the calendar"),
        ("2025-13-01", "is not a day of the calendar"),
        ("2025/12/31", "must be a date as dd/mm/yyyy or yyyy-mm-dd"),
        ("12-31-2025", "must be a date as dd/mm/yyyy or yyyy-mm-dd"),
    ],
)
def test_invalid_due_dates(written, reason):
    assert reason in message("data_scadenza", written)


# --- iuv ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "stored"),
    [
        ("RF18539007547034", "RF18539007547034"),
        ("rf18539007547034", "RF18539007547034"),
        ("01234567890123456", "01234567890123456"),  # 17 digits: an IUV
        ("302000100000009425", "302000100000009425"),  # numero avviso, aux digit 3
        ("012345678901234567", "012345678901234567"),  # numero avviso, aux digit 0
    ],
)
def test_valid_iuv_and_notice_numbers(code, stored):
    assert valid(iuv=code)["iuv"] == stored


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("512345678901234567", "a numero avviso (18 digits) starts with 0, 1 or 3, not 5"),
        ("12345678901234", "must be an IUV (15 to 25 letters or digits) or a numero avviso (18 digits)"),
        ("RF1853900754703412345678901", "must be an IUV"),  # 27 characters
        ("RF18-5390-0754-7034", "must be an IUV"),
    ],
)
def test_invalid_iuv_and_notice_numbers(code, reason):
    assert reason in message("iuv", code)


# --- the optional fields --------------------------------------------------------------------------


def test_optional_fields():
    optional = {"causale": "TARI 2025 rata 1", "codice_servizio": "TARI", "email": "m.rossi@esempio.it", "indirizzo": "Via Roma 1"}
    assert valid(**optional) == {**DOVUTO, **optional}
    assert "at most 140 characters" in message("causale", "x" * 141)
    assert "at most 70 characters" in message("anagrafica", "x" * 71)
    for address in ("mario.rossi", "mario@esempio", "mario rossi@esempio.it"):
        assert message("email", address) == "Value error, must be an email address like nome@esempio.it"


# --- from a municipality's CSV --------------------------------------------------------------------


def test_an_italian_csv_becomes_valid_dovuti():
    content = (
        "IUV;Codice Fiscale;Anagrafica;Importo;Data Scadenza;Causale\n"
        "302000100000009425;rssmra85t10a562s;Mario Rossi;1.234,56;31/12/2025;TARI – acconto\n"
        "RF18539007547034;01234567897;Pizzeria Da Gennaro S.r.l.;85,00;2026-01-31;Occupazione suolo pubblico\n"
    ).encode("cp1252")
    paths = field_paths(Dovuti)
    options = CsvOptions(columns={"Codice Fiscale": "codice_fiscale", "Data Scadenza": "data_scadenza"})
    layout, records = open_table(io.BytesIO(content), options, paths)
    assert (layout.encoding, layout.delimiter, layout.unknown) == ("cp1252", ";", [])
    dovuti = TypeAdapter(list[Dovuti]).validate_python([row_of(cells, layout) for cells in records])
    assert [(d["iuv"], d["codice_fiscale"], d["importo"], d["data_scadenza"]) for d in dovuti] == [
        ("302000100000009425", "RSSMRA85T10A562S", 1234.56, "2025-12-31"),
        ("RF18539007547034", "01234567897", 85.0, "2026-01-31"),
    ]
    assert dovuti[0]["causale"] == "TARI – acconto"


def test_a_columns_option_naming_no_dovuti_field_is_refused_when_the_job_is_created():
    from ferry.core.errors import InvalidRequest
    from ferry.jobs.kinds import kind_of

    with pytest.raises(InvalidRequest) as refused:
        kind_of("import_dovuti").args({"columns": {"Codice/IUV": "nope"}})
    assert [e.pointer for e in refused.value.errors] == ["/args/columns/Codice~1IUV"]  # RFC 6901: "/" is "~1"
