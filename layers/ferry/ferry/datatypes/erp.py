"""The data types of the ERP integration (seed 000): what the procedures read from the ERP and load into the store.

Named after the ERP's tables (Item, Account, ...), plural as the other types are.
LoadFromIntegrator loads the staging area into them through the same validation as
any import; the other procedures read them (images of Items, addresses of Accounts,
packages per Agent) and ExportToErp writes the Orders back.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, with_config
from typing_extensions import NotRequired, TypedDict

from ferry.datatypes.datatype import DataType
from ferry.datatypes.models import GeoCoordinate, Id, IsoDate, KeyPart, Name
from ferry.store.port import Action

_FORBID_EXTRA = ConfigDict(extra="forbid", allow_inf_nan=False)
Money = Annotated[float, Field(ge=0)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://")]
_EDITABLE = (Action.CREATE, Action.UPDATE, Action.CREATE_OR_UPDATE)


@with_config(_FORBID_EXTRA)
class Items(TypedDict):
    code: KeyPart
    description: NotRequired[Name]
    unit: NotRequired[Id]
    imageUrl: NotRequired[Url | None]


@with_config(_FORBID_EXTRA)
class ItemOfflineAvailability(TypedDict):
    itemCode: KeyPart
    warehouse: KeyPart
    quantity: NotRequired[float]


@with_config(_FORBID_EXTRA)
class Address(TypedDict):
    street: NotRequired[str]
    city: NotRequired[str]
    postalCode: NotRequired[str]
    country: NotRequired[str]


@with_config(_FORBID_EXTRA)
class Accounts(TypedDict):
    code: KeyPart
    name: NotRequired[Name]
    agentCode: NotRequired[Id | None]
    address: NotRequired[Address]
    geoCoordinate: NotRequired[GeoCoordinate]


@with_config(_FORBID_EXTRA)
class Agents(TypedDict):
    code: KeyPart
    name: NotRequired[Name]
    email: NotRequired[str]


@with_config(_FORBID_EXTRA)
class Prices(TypedDict):
    itemCode: KeyPart
    priceList: KeyPart
    price: NotRequired[Money]
    currency: NotRequired[Id]


@with_config(_FORBID_EXTRA)
class OrderLine(TypedDict):
    itemCode: Id
    quantity: float
    price: NotRequired[Money]


@with_config(_FORBID_EXTRA)
class Orders(TypedDict):
    number: KeyPart
    accountCode: NotRequired[Id]
    agentCode: NotRequired[Id]
    date: NotRequired[IsoDate]
    lines: NotRequired[list[OrderLine]]


ERP_TYPES = (
    DataType("Items", Items, ("code",), _EDITABLE, description="ERP items (articles), by code."),
    DataType("ItemOfflineAvailability", ItemOfflineAvailability, ("itemCode", "warehouse"), _EDITABLE, description="Stock of an item per warehouse."),
    DataType("Accounts", Accounts, ("code",), _EDITABLE, description="ERP accounts (customers), with the agent who serves them."),
    DataType("Agents", Agents, ("code",), _EDITABLE, description="Field agents: users of type Agent."),
    DataType("Prices", Prices, ("itemCode", "priceList"), _EDITABLE, description="Item prices per price list."),
    DataType("Orders", Orders, ("number",), _EDITABLE, description="Orders taken on the platform, exported to the ERP."),
)
