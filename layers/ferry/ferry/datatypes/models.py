"""The row model of each importable data type (seed 004), fields named exactly as the seed writes them.

The seed mixes casings (`relationshipId` next to `Debts` and `CurrencyId`); the
names are kept as written because clients send them that way.

The models are TypedDicts validated by pydantic rather than BaseModels: the
validated value is then already the JSON document to store, holding exactly the
fields the row sent, and validating 10,000 rows is several times faster (model
instances make the garbage collector rescan the chunk; see validation.py).

Rules common to every model:
- unknown fields are refused, nested objects included (`extra="forbid"`);
- for the types that Create/Update/CreateOrUpdate, only the business key is
  required: Update and CreateOrUpdate set just the fields a row sends, so any
  other field may be left out (NotRequired), but a field that is sent must be valid;
- null is accepted only where the seed shows null;
- the Replace types describe whole documents of a set, so their fields are
  required as the seed shows them, except those that may be null, which may
  also be left out.
"""
from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, StrictBool, StringConstraints, WithJsonSchema, with_config
from typing_extensions import NotRequired, TypedDict  # pydantic needs typing_extensions' TypedDict before Python 3.12

Id = Annotated[str, StringConstraints(min_length=1)]
# Parts of a composite business key are joined with U+001F (datatype.KEY_SEPARATOR),
# so they must not contain it, or two different keys could join to the same string.
KeyPart = Annotated[str, StringConstraints(min_length=1, pattern="^[^\x1f]+$")]
Name = Annotated[str, StringConstraints(min_length=1)]
NonNegative = Annotated[float, Field(ge=0)]
# Debts stay signed: an overpayment is a negative debt.
Amount = float
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


def _iso_date(value: str) -> str:
    # Kept as the string sent (already JSON); checked to be a real calendar date.
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("must be a date as YYYY-MM-DD") from exc
    return value


IsoDate = Annotated[
    str,
    StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"),
    AfterValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date"}),
]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


HttpUrlText = Annotated[str, AfterValidator(_http_url), WithJsonSchema({"type": "string", "format": "uri"})]


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"must be base64 ({exc})") from exc
    return value


Base64Text = Annotated[
    str,
    StringConstraints(min_length=1),
    AfterValidator(_base64),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]

# Unknown fields are refused; "nan" or "inf" (text a CSV cell or a lax JSON row may carry) is no number to store.
_FORBID_EXTRA = ConfigDict(extra="forbid", allow_inf_nan=False)


# --- nested values ------------------------------------------------------------------------------


@with_config(_FORBID_EXTRA)
class GeoCoordinate(TypedDict):
    latitude: Latitude
    longitude: Longitude


@with_config(_FORBID_EXTRA)
class Location(TypedDict):
    """A postal address with its coordinates (Customers, TradeOutlets)."""

    countryId: Id
    provinceId: NotRequired[Id]
    addressLine: Name
    geoCoordinate: NotRequired[GeoCoordinate]
    settlement: NotRequired[Name]


@with_config(_FORBID_EXTRA)
class Debt(TypedDict):
    """A debt in one currency as Relationships write it (camelCase)."""

    currencyId: Id
    sum: Amount


@with_config(_FORBID_EXTRA)
class CurrencyDebt(TypedDict):
    """A debt in one currency as InvoiceDebts and RelationshipDebts write it (PascalCase)."""

    CurrencyId: Id
    Sum: Amount


@with_config(_FORBID_EXTRA)
class OutletRelationship(TypedDict):
    relationshipId: Id
    orderIndex: int


@with_config(_FORBID_EXTRA)
class PropertyValue(TypedDict):
    propertyId: Id
    value: str


@with_config(_FORBID_EXTRA)
class ProductImageFields(TypedDict):
    """One image: a link (`Url`) or the image itself (`content`, base64), exactly one of them."""

    orderIndex: int
    Url: NotRequired[HttpUrlText | None]
    content: NotRequired[Base64Text | None]


def _exactly_one_source(image: dict[str, Any]) -> dict[str, Any]:
    if (image.get("Url") is None) == (image.get("content") is None):
        raise ValueError("an image needs exactly one of Url or content")
    return image


ProductImage = Annotated[ProductImageFields, AfterValidator(_exactly_one_source)]


# --- data types ---------------------------------------------------------------------------------


@with_config(_FORBID_EXTRA)
class Products(TypedDict):
    """A product of the catalogue.

    Designed, not taken from the seed (it has no Products example): shaped like
    the seed's other types, identified by `vendorId` like Customers.
    """

    vendorId: Id
    name: NotRequired[Name]
    code: NotRequired[Id]
    groupId: NotRequired[Id]
    brandId: NotRequired[Id | None]
    unitId: NotRequired[Id]
    barcodes: NotRequired[list[Id]]
    vatRate: NotRequired[Annotated[float, Field(ge=0, le=100)]]  # percent
    weight: NotRequired[NonNegative]
    active: NotRequired[StrictBool]
    orderIndex: NotRequired[int]


@with_config(_FORBID_EXTRA)
class ProductPrices(TypedDict):
    """A product's price in one price category and currency; Replace swaps all prices of the products sent."""

    ProductId: KeyPart
    PriceCategoryId: KeyPart
    Price: NonNegative
    CurrencyId: KeyPart


@with_config(_FORBID_EXTRA)
class InvoiceDebts(TypedDict):
    """What is still owed on one invoice, per currency; Replace swaps the invoice's debts wholesale."""

    invoiceId: Id
    Debts: list[CurrencyDebt]


@with_config(_FORBID_EXTRA)
class RelationshipDebts(TypedDict):
    """What is owed, and overdue, under one relationship (contract), per currency."""

    relationshipId: Id
    Debts: list[CurrencyDebt]
    OverdueDebts: list[CurrencyDebt]


@with_config(_FORBID_EXTRA)
class Customers(TypedDict):
    vendorId: Id
    name: NotRequired[Name]
    taxNumber: NotRequired[Id]
    location: NotRequired[Location]
    tradeNetworkId: NotRequired[Id | None]
    officeId: NotRequired[Id]


@with_config(_FORBID_EXTRA)
class Relationships(TypedDict):
    """A contract between the vendor and a customer: currency, prices, payment terms, debts."""

    vendorId: Id
    name: NotRequired[Name]
    customerId: NotRequired[Id]
    currencyId: NotRequired[Id]
    priceCategoryId: NotRequired[Id]
    deferment: NotRequired[Annotated[int, Field(ge=0)]]  # days of payment deferral
    limit: NotRequired[NonNegative]  # credit limit
    active: NotRequired[StrictBool]
    dateFrom: NotRequired[IsoDate]
    dateTill: NotRequired[IsoDate]
    orderIndex: NotRequired[int]
    priceTiers: NotRequired[list[Id]]
    paymentTypeIds: NotRequired[list[Id]]
    paymentForms: NotRequired[list[int]]
    deliveryTypeIds: NotRequired[list[Id]]
    debts: NotRequired[list[Debt]]
    overdueDebts: NotRequired[list[Debt]]


@with_config(_FORBID_EXTRA)
class TradeOutlets(TypedDict):
    """A shop or other point of sale.

    The fields besides `vendorId` are those of the seed's second "ProductPrices"
    example, which actually shows a trade outlet; that example carries no
    identifier, so `vendorId` was designed, not taken from the seed.
    """

    vendorId: Id
    name: NotRequired[Name]
    location: NotRequired[Location]
    categoryId: NotRequired[Id]
    formatId: NotRequired[Id]
    freeVisit: NotRequired[StrictBool]
    relationships: NotRequired[list[OutletRelationship]]
    properties: NotRequired[list[PropertyValue]]


@with_config(_FORBID_EXTRA)
class Tasks(TypedDict):
    """A task for a field employee at a customer or trade outlet.

    Designed, not taken from the seed (it has no Tasks example). Tasks are only
    ever created by import, so a task must at least be named.
    """

    vendorId: Id
    name: Name
    description: NotRequired[str | None]
    customerId: NotRequired[Id]
    tradeOutletId: NotRequired[Id | None]
    employeeId: NotRequired[Id]
    dateFrom: NotRequired[IsoDate]
    dateTill: NotRequired[IsoDate]


@with_config(_FORBID_EXTRA)
class PersonalPrices(TypedDict):
    """A trade outlet's own price or discount for a product group or brand, in one currency."""

    TradeOutletId: KeyPart
    GroupId: KeyPart
    BrandId: NotRequired[KeyPart | None]
    CurrencyId: KeyPart
    Price: NotRequired[NonNegative | None]
    Discount: NotRequired[float | None]  # percent, as the seed's 20 and 15 suggest; sign left open (a markup)


@with_config(_FORBID_EXTRA)
class ProductImages(TypedDict):
    """A product's images; CreateOrUpdate sets the whole list."""

    productId: Id
    images: list[ProductImage]
