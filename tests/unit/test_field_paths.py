"""The dotted leaf paths a CSV column may name, and their JSON types."""
from __future__ import annotations

import pytest

from ferry.datatypes import models
from ferry.datatypes.dovuti import Dovuti
from ferry.datatypes.paths import field_paths


def test_nested_objects_are_reached_by_dotted_paths_to_their_leaves():
    assert dict(field_paths(models.Customers)) == {
        "vendorId": "string",
        "name": "string",
        "taxNumber": "string",
        "location.countryId": "string",
        "location.provinceId": "string",
        "location.addressLine": "string",
        "location.geoCoordinate.latitude": "number",
        "location.geoCoordinate.longitude": "number",
        "location.settlement": "string",
        "tradeNetworkId": "string",  # Id | None: an empty cell is the absent field, never null
        "officeId": "string",
    }


def test_scalar_types_and_lists_of_scalars():
    paths = field_paths(models.Products)
    assert (paths["vatRate"], paths["orderIndex"], paths["active"], paths["barcodes"]) == (
        "number", "integer", "boolean", "array",
    )
    assert field_paths(models.PersonalPrices)["Price"] == "number"  # NonNegative | None


def test_lists_of_objects_have_no_path():
    relationships = field_paths(models.Relationships)
    assert "debts" not in relationships and not any(path.startswith("debts.") for path in relationships)
    assert relationships["paymentForms"] == "array"  # list[int]: a list of scalars is still one cell
    assert dict(field_paths(models.ProductImages)) == {"productId": "string"}
    assert dict(field_paths(models.InvoiceDebts)) == {"invoiceId": "string"}


def test_a_field_that_also_takes_text_is_text():
    # Dovuti's importo is a number or text like "1.234,56": the model reads the text itself.
    assert field_paths(Dovuti)["importo"] == "string"


def test_computed_once_and_read_only():
    paths = field_paths(models.Customers)
    assert field_paths(models.Customers) is paths
    with pytest.raises(TypeError):
        paths["vendorId"] = "number"  # type: ignore[index]
