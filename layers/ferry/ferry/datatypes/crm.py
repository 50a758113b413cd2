"""The data types of a real-estate CRM (seed 003, onOffice's automatic CSV export): its areas as Ferry types.

The seed names the areas (contacts, activities, estates, history, tasks,
projects, appointments) but not their fields; these are designed after what
onOffice keeps in each area, in English. Tasks are the seed-004 type and are
not repeated here.

As in seed 004, only the key `id` is required: Update and CreateOrUpdate set just
the fields a row sends. Several e-mails and phones of a contact (the seed's
"multi-value fields") are lists: a CSV cell writes them joined by
paths.ARRAY_SEPARATOR, or an export spreads them over one column each.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StrictBool, StringConstraints, WithJsonSchema, with_config
from typing_extensions import NotRequired, TypedDict  # pydantic needs typing_extensions' TypedDict before Python 3.12

from ferry.datatypes.datatype import DataType
from ferry.datatypes.models import Id, IsoDate, KeyPart, Name
from ferry.datatypes.paths import ARRAY_SEPARATOR
from ferry.store.port import Action

_FORBID_EXTRA = ConfigDict(extra="forbid", allow_inf_nan=False)
_EDITABLE = (Action.CREATE, Action.UPDATE, Action.CREATE_OR_UPDATE)

Money = Annotated[float, Field(ge=0)]
SquareMetres = Annotated[float, Field(ge=0)]
# An item of a list that a CSV cell writes joined by ARRAY_SEPARATOR: an item holding
# the separator would be read back as two.
ListId = Annotated[str, StringConstraints(min_length=1, pattern=f"^[^{re.escape(ARRAY_SEPARATOR)}]+$")]


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in value):
        raise ValueError("must be an e-mail address like name@example.com")
    if ARRAY_SEPARATOR in value:
        raise ValueError(f"must not contain {ARRAY_SEPARATOR!r}, which separates the e-mails of a CSV cell")
    return value


Email = Annotated[str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email"})]
_PHONE = re.compile(r"\+?[0-9 ()/.-]+")


def _phone(value: str) -> str:
    # As people write them ("+49 30 1234-567", "(030) 123 45 67"); the separator of a CSV cell is no such character.
    if not _PHONE.fullmatch(value) or sum(c.isdigit() for c in value) < 3:
        raise ValueError("must be a phone number like +49 30 1234567")
    return value


Phone = Annotated[str, AfterValidator(_phone), WithJsonSchema({"type": "string", "pattern": r"^\+?[0-9 ()/.-]+$"})]


def _timestamp(value: str) -> str:
    # Kept as the string sent, like IsoDate; checked to be a real moment of the calendar.
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("must be a date and time as YYYY-MM-DDTHH:MM[:SS][+HH:MM]") from exc
    return value


# The offset may be left out, as onOffice writes its users' local time; so the schema is no RFC 3339 "date-time".
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$"
Timestamp = Annotated[
    str,
    StringConstraints(pattern=_TIMESTAMP),
    AfterValidator(_timestamp),
    WithJsonSchema({"type": "string", "pattern": _TIMESTAMP}),
]


# --- nested values ------------------------------------------------------------------------------


@with_config(_FORBID_EXTRA)
class Address(TypedDict):
    street: NotRequired[Name]
    houseNumber: NotRequired[Name]
    postalCode: NotRequired[Name]
    city: NotRequired[Name]
    country: NotRequired[Name]


_ADDRESS_LABELS = {
    "address.street": "Street",
    "address.houseNumber": "House number",
    "address.postalCode": "Postal code",
    "address.city": "City",
    "address.country": "Country",
}


# --- data types ---------------------------------------------------------------------------------


@with_config(_FORBID_EXTRA)
class Contacts(TypedDict):
    """A person or company: owner, buyer, tenant, interested party."""

    id: KeyPart
    salutation: NotRequired[Name]
    firstName: NotRequired[Name]
    lastName: NotRequired[Name]
    company: NotRequired[Name | None]
    emails: NotRequired[list[Email]]
    phones: NotRequired[list[Phone]]
    address: NotRequired[Address]
    birthDate: NotRequired[IsoDate | None]
    contactType: NotRequired[Name]  # owner, buyer, tenant, ...: each onOffice customer names its own
    source: NotRequired[Name]  # how the contact came: portal, referral, website, ...
    supervisor: NotRequired[Name]  # the user in charge of the contact
    newsletter: NotRequired[StrictBool]
    notes: NotRequired[str | None]


@with_config(_FORBID_EXTRA)
class Estates(TypedDict):
    """A property on the market, for sale or to rent."""

    id: KeyPart
    title: NotRequired[Name]
    propertyType: NotRequired[Name]  # apartment, house, plot, office, ...
    marketingType: NotRequired[Literal["sale", "rent"]]  # says what `price` is
    status: NotRequired[Name]  # active, reserved, sold, ...
    price: NotRequired[Money]  # purchase price, or monthly rent without utilities
    rooms: NotRequired[Annotated[float, Field(ge=0)]]  # half rooms are counted (2.5)
    area: NotRequired[SquareMetres]  # living or usable area
    plotArea: NotRequired[SquareMetres | None]
    constructionYear: NotRequired[Annotated[int, Field(ge=1000, le=2100)]]
    address: NotRequired[Address]
    ownerId: NotRequired[Id]  # a Contacts id
    supervisor: NotRequired[Name]
    availableFrom: NotRequired[IsoDate | None]


@with_config(_FORBID_EXTRA)
class Activities(TypedDict):
    """An entry of the activity log: a call, an e-mail, a viewing, about contacts and estates."""

    id: KeyPart
    timestamp: NotRequired[Timestamp]
    kind: NotRequired[Name]  # phone call, e-mail, viewing, offer, ...
    direction: NotRequired[Literal["incoming", "outgoing"]]
    subject: NotRequired[Name]
    note: NotRequired[str | None]
    contactIds: NotRequired[list[ListId]]
    estateIds: NotRequired[list[ListId]]
    user: NotRequired[Name]
    durationMinutes: NotRequired[Annotated[int, Field(ge=0)]]


@with_config(_FORBID_EXTRA)
class History(TypedDict):
    """One change of a record of another area: who changed which field, from what to what."""

    id: KeyPart
    timestamp: NotRequired[Timestamp]
    area: NotRequired[Name]  # the area of the changed record: Contacts, Estates, ...
    recordId: NotRequired[Id]
    action: NotRequired[Literal["created", "changed", "deleted"]]
    field: NotRequired[Name | None]  # none when the whole record was created or deleted
    oldValue: NotRequired[str | None]
    newValue: NotRequired[str | None]
    user: NotRequired[Name]


# Titled after the data type: the checked Annotated type below is what the registry shows, under this title.
@with_config(ConfigDict(_FORBID_EXTRA, title="Projects"))
class ProjectFields(TypedDict):
    """A project: the work on one mandate (a sale, a letting, a development) over weeks."""

    id: KeyPart
    name: NotRequired[Name]
    kind: NotRequired[Name]  # sale, letting, new development, ...
    status: NotRequired[Name]
    priority: NotRequired[Annotated[int, Field(ge=1, le=5)]]  # 1 is the highest
    manager: NotRequired[Name]
    startDate: NotRequired[IsoDate]
    dueDate: NotRequired[IsoDate | None]
    progress: NotRequired[Annotated[float, Field(ge=0, le=100)]]  # percent
    budget: NotRequired[Money | None]
    contactIds: NotRequired[list[ListId]]
    estateIds: NotRequired[list[ListId]]
    description: NotRequired[str | None]


def _project_in_order(row: dict[str, Any]) -> dict[str, Any]:
    # An update sending only one of the dates is not checked: the stored other one is not at hand.
    # IsoDate is YYYY-MM-DD, so the strings compare as the dates do.
    if row.get("dueDate") is not None and "startDate" in row and row["dueDate"] < row["startDate"]:
        raise ValueError("dueDate must not be before startDate")
    return row


Projects = Annotated[ProjectFields, AfterValidator(_project_in_order)]


@with_config(ConfigDict(_FORBID_EXTRA, title="Appointments"))
class AppointmentFields(TypedDict):
    """An appointment in a user's calendar: a viewing, a valuation, a meeting at the notary."""

    id: KeyPart
    subject: NotRequired[Name]
    date: NotRequired[IsoDate]  # the day it starts on, which the daily export of appointments goes by
    start: NotRequired[Timestamp]
    end: NotRequired[Timestamp]
    allDay: NotRequired[StrictBool]
    kind: NotRequired[Name]  # viewing, valuation, notary, ...
    status: NotRequired[Name]  # planned, done, cancelled, ...
    location: NotRequired[Name | None]
    organizer: NotRequired[Name]
    contactIds: NotRequired[list[ListId]]
    estateId: NotRequired[Id | None]
    private: NotRequired[StrictBool]
    note: NotRequired[str | None]


def _appointment_in_order(row: dict[str, Any]) -> dict[str, Any]:
    # As for projects, only the fields a row sends can be checked against each other.
    if "start" in row and "end" in row:
        start, end = datetime.fromisoformat(row["start"]), datetime.fromisoformat(row["end"])
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise ValueError("start and end must both carry a UTC offset, or neither: a local time cannot be compared with one")
        if end < start:
            raise ValueError("end must not be before start")
    if "date" in row and "start" in row and date.fromisoformat(row["date"]) != datetime.fromisoformat(row["start"]).date():
        raise ValueError("date must be the day of start")
    return row


Appointments = Annotated[AppointmentFields, AfterValidator(_appointment_in_order)]


CRM_TYPES = (
    DataType(
        "Contacts", Contacts, ("id",), _EDITABLE,
        description="CRM contacts (seed 003): people and companies, with several e-mails and phones.",
        labels={
            "id": "Contact ID",
            "salutation": "Salutation",
            "firstName": "First name",
            "lastName": "Last name",
            "company": "Company",
            "emails": "E-mail",
            "phones": "Phone",
            **_ADDRESS_LABELS,
            "birthDate": "Date of birth",
            "contactType": "Contact type",
            "source": "Source",
            "supervisor": "Supervisor",
            "newsletter": "Newsletter",
            "notes": "Notes",
        },
    ),
    DataType(
        "Estates", Estates, ("id",), _EDITABLE,
        description="CRM estates (seed 003): properties for sale or to rent.",
        labels={
            "id": "Estate ID",
            "title": "Title",
            "propertyType": "Property type",
            "marketingType": "Marketing type",
            "status": "Status",
            "price": "Price",
            "rooms": "Rooms",
            "area": "Living area (m²)",
            "plotArea": "Plot area (m²)",
            "constructionYear": "Year of construction",
            **_ADDRESS_LABELS,
            "ownerId": "Owner (contact ID)",
            "supervisor": "Supervisor",
            "availableFrom": "Available from",
        },
    ),
    DataType(
        "Activities", Activities, ("id",), _EDITABLE,
        description="CRM activities (seed 003): calls, e-mails, viewings, linked to contacts and estates.",
        labels={
            "id": "Activity ID",
            "timestamp": "Date and time",
            "kind": "Kind of activity",
            "direction": "Direction",
            "subject": "Subject",
            "note": "Note",
            "contactIds": "Contacts",
            "estateIds": "Estates",
            "user": "User",
            "durationMinutes": "Duration (minutes)",
        },
    ),
    DataType(
        "History", History, ("id",), _EDITABLE,
        description="CRM history (seed 003): changes of contacts, estates and the other areas' records.",
        labels={
            "id": "History entry ID",
            "timestamp": "Date and time",
            "area": "Area",
            "recordId": "Record ID",
            "action": "Action",
            "field": "Field",
            "oldValue": "Old value",
            "newValue": "New value",
            "user": "User",
        },
    ),
    DataType(
        "Projects", Projects, ("id",), _EDITABLE,
        description="CRM projects (seed 003): mandates worked on over time, with their contacts and estates.",
        labels={
            "id": "Project ID",
            "name": "Project name",
            "kind": "Project type",
            "status": "Status",
            "priority": "Priority",
            "manager": "Project manager",
            "startDate": "Start date",
            "dueDate": "Due date",
            "progress": "Progress (%)",
            "budget": "Budget",
            "contactIds": "Contacts",
            "estateIds": "Estates",
            "description": "Description",
        },
    ),
    DataType(
        "Appointments", Appointments, ("id",), _EDITABLE,
        description="CRM appointments (seed 003): viewings and meetings, with start and end.",
        labels={
            "id": "Appointment ID",
            "subject": "Subject",
            "date": "Date",
            "start": "Start",
            "end": "End",
            "allDay": "All day",
            "kind": "Kind of appointment",
            "status": "Status",
            "location": "Location",
            "organizer": "Organizer",
            "contactIds": "Contacts",
            "estateId": "Estate",
            "private": "Private",
            "note": "Note",
        },
    ),
)
