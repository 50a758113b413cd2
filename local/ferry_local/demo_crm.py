"""Demo records of the CRM data types (seed 003): a small estate agency in Berlin, the same on every call.

The records refer to one another as an agency's do: estates to their owners, activities,
projects and appointments to contacts and estates, history entries to the records they changed.
"""
from __future__ import annotations

from typing import Any

_USERS = ("Anna Schmidt", "Jonas Weber", "Lea Fischer")
_PEOPLE = [
    ("Frau", "Sabine", "Müller"), ("Herr", "Thomas", "Schneider"), ("Frau", "Julia", "Wagner"),
    ("Herr", "Michael", "Becker"), ("Frau", "Katrin", "Hoffmann"), ("Herr", "Stefan", "Schulz"),
    ("Frau", "Claudia", "Koch"), ("Herr", "Andreas", "Richter"), ("Frau", "Nicole", "Klein"),
    ("Herr", "Markus", "Wolf"), ("Frau", "Sandra", "Schröder"), ("Herr", "Daniel", "Neumann"),
    ("Frau", "Petra", "Schwarz"), ("Herr", "Frank", "Zimmermann"), ("Frau", "Birgit", "Braun"),
    ("Herr", "Jan", "Krüger"), ("Frau", "Melanie", "Hofmann"), ("Herr", "Tobias", "Hartmann"),
    ("Frau", "Anja", "Lange"), ("Herr", "Christian", "Schmitt"), ("Frau", "Susanne", "Werner"),
    ("Herr", "Martin", "Krause"), ("Frau", "Monika", "Meier"), ("Herr", "Florian", "Lehmann"),
    ("Frau", "Stefanie", "Schmid"),
]
_STREETS = [
    ("Kastanienallee", "10437"), ("Bergmannstraße", "10961"), ("Schönhauser Allee", "10435"),
    ("Oranienstraße", "10999"), ("Kantstraße", "10623"), ("Boxhagener Straße", "10245"),
    ("Karl-Marx-Allee", "10243"), ("Torstraße", "10119"), ("Sonnenallee", "12047"), ("Greifswalder Straße", "10405"),
]
_CONTACT_TYPES = ("Owner", "Buyer", "Tenant", "Interested party", "Landlord")
_SOURCES = ("Website", "Portal", "Referral", "Walk-in")
_ESTATES = [
    # title, property type, marketing type, price (EUR; monthly rent for "rent"), rooms, area, plot area, year;
    # a plot has no rooms, living area or year of construction, so they are left out; a flat's plot area is null.
    ("Bright 3-room flat with balcony", "Apartment", "sale", 489000.0, 3.0, 84.5, None, 1908),
    ("Loft in a former factory", "Apartment", "rent", 2150.0, 2.0, 96.0, None, 1921),
    ("Family house with garden", "House", "sale", 895000.0, 5.5, 162.0, 540.0, 1998),
    ("Studio near the park", "Apartment", "rent", 890.0, 1.0, 34.0, None, 1965),
    ("Penthouse with roof terrace", "Apartment", "sale", 1250000.0, 4.0, 148.0, None, 2019),
    ("Shop on a busy corner", "Retail", "rent", 3400.0, 2.0, 120.0, None, 1895),
    ("Building plot at the lake", "Plot", "sale", 310000.0, None, None, 820.0, None),
    ("Refurbished 2.5-room flat", "Apartment", "sale", 399000.0, 2.5, 68.0, None, 1956),
    ("Office floor with a view", "Office", "rent", 5200.0, 6.0, 260.0, None, 2005),
    ("Terraced house, quiet street", "House", "sale", 649000.0, 4.5, 128.0, 210.0, 1979),
]
_ESTATE_STATUSES = ("Active", "Active", "Reserved", "Active", "Sold")
_ACTIVITY_KINDS = ("Phone call", "E-mail", "Viewing", "Offer sent", "Meeting")
_APPOINTMENT_KINDS = ("Viewing", "Valuation", "Notary", "Meeting")


def _contact_id(n: int) -> str:
    return f"C{n:04d}"


def _estate_id(n: int) -> str:
    return f"E{n:04d}"


def _contacts() -> list[dict[str, Any]]:
    rows = []
    for n, (salutation, first, last) in enumerate(_PEOPLE, start=1):
        login = f"{first}.{last}".lower().replace("ü", "ue").replace("ö", "oe")
        street, postal_code = _STREETS[n % len(_STREETS)]
        count = 1 + n % 3  # one to three e-mails and phones each
        row: dict[str, Any] = {
            "id": _contact_id(n),
            "salutation": salutation,
            "firstName": first,
            "lastName": last,
            "emails": [f"{login}@{domain}" for domain in ("example.de", "example.com", "example.org")[:count]],
            "phones": [f"+49 30 {5550000 + n * 10 + i}" for i in range(count)],
            "address": {
                "street": street, "houseNumber": str(n * 3 % 120 + 1), "postalCode": postal_code,
                "city": "Berlin", "country": "Germany",
            },
            "birthDate": f"{1950 + n}-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            "contactType": _CONTACT_TYPES[n % len(_CONTACT_TYPES)],
            "source": _SOURCES[n % len(_SOURCES)],
            "supervisor": _USERS[n % len(_USERS)],
            "newsletter": n % 2 == 0,
            "notes": None if n % 4 else "Prefers to be called in the evening.",
        }
        if n % 5 == 0:
            row["company"] = f"{last} Immobilien GmbH"
        rows.append(row)
    return rows


def _estates() -> list[dict[str, Any]]:
    rows = []
    for n, (title, kind, marketing, price, rooms, area, plot, year) in enumerate(_ESTATES, start=1):
        street, postal_code = _STREETS[n - 1]
        row = {
            "id": _estate_id(n),
            "title": title,
            "propertyType": kind,
            "marketingType": marketing,
            "status": _ESTATE_STATUSES[n % len(_ESTATE_STATUSES)],
            "price": price,
            "rooms": rooms,
            "area": area,
            "plotArea": plot,
            "constructionYear": year,
            "address": {
                "street": street, "houseNumber": str(n * 7 % 90 + 1), "postalCode": postal_code,
                "city": "Berlin", "country": "Germany",
            },
            "ownerId": _contact_id(n * 2),
            "supervisor": _USERS[n % len(_USERS)],
            "availableFrom": f"2025-{n % 12 + 1:02d}-01",
        }
        rows.append({name: value for name, value in row.items() if value is not None or name == "plotArea"})
    return rows


def _activities() -> list[dict[str, Any]]:
    return [
        {
            "id": f"A{n:04d}",
            "timestamp": f"2025-03-{n + 2:02d}T{9 + n % 8:02d}:{n * 7 % 60:02d}:00+01:00",
            "kind": (kind := _ACTIVITY_KINDS[n % len(_ACTIVITY_KINDS)]),
            "direction": "incoming" if n % 3 == 0 else "outgoing",
            "subject": f"{kind}: {_ESTATES[n % len(_ESTATES)][0]}",
            "note": None if n % 2 else "Asked for the energy certificate.",
            "contactIds": [_contact_id(n), _contact_id(n + 10)] if n % 4 == 0 else [_contact_id(n)],
            "estateIds": [_estate_id(n % len(_ESTATES) + 1)],
            "user": _USERS[n % len(_USERS)],
            "durationMinutes": 5 + n * 4 % 55,
        }
        for n in range(1, 16)
    ]


def _history() -> list[dict[str, Any]]:
    changes = [
        ("Contacts", _contact_id(1), "created", None, None, None),
        ("Contacts", _contact_id(1), "changed", "phones", "+49 30 5550010", "+49 30 5550010|+49 30 5550011"),
        ("Estates", _estate_id(3), "changed", "price", "925000", "895000"),
        ("Estates", _estate_id(3), "changed", "status", "Active", "Reserved"),
        ("Contacts", _contact_id(7), "changed", "contactType", "Interested party", "Buyer"),
        ("Estates", _estate_id(5), "changed", "status", "Reserved", "Sold"),
        ("Projects", "P0002", "changed", "progress", "40", "60"),
        ("Appointments", "M0004", "changed", "status", "Planned", "Cancelled"),
        ("Contacts", _contact_id(12), "changed", "supervisor", _USERS[0], _USERS[2]),
        ("Activities", "A0015", "deleted", None, None, None),
    ]
    return [
        {
            "id": f"H{n:04d}",
            "timestamp": f"2025-03-{n + 10:02d}T{8 + n:02d}:15:00+01:00",
            "area": area,
            "recordId": record,
            "action": action,
            "field": field,
            "oldValue": old,
            "newValue": new,
            "user": _USERS[n % len(_USERS)],
        }
        for n, (area, record, action, field, old, new) in enumerate(changes, start=1)
    ]


def _projects() -> list[dict[str, Any]]:
    projects = [
        ("Sale of the Müller family house", "Sale", "In progress", 1, 0.0, None),
        ("Letting of the factory loft", "Letting", "In progress", 2, 60.0, 1500.0),
        ("New development at the lake", "New development", "Planned", 3, 10.0, 25000.0),
        ("Valuation portfolio Schulz", "Valuation", "Done", 4, 100.0, 800.0),
        ("Office floor marketing", "Letting", "On hold", 5, 35.0, 4000.0),
    ]
    return [
        {
            "id": f"P{n:04d}",
            "name": name,
            "kind": kind,
            "status": status,
            "priority": priority,
            "manager": _USERS[n % len(_USERS)],
            "startDate": f"2025-0{n}-01",
            "dueDate": f"2025-{n + 5:02d}-30",
            "progress": progress,
            "budget": budget,
            "contactIds": [_contact_id(n * 2), _contact_id(n * 3)],
            "estateIds": [_estate_id(n * 2 - 1), _estate_id(n * 2)],
            "description": None if n % 2 == 0 else f"{name}: marketing, viewings and negotiation.",
        }
        for n, (name, kind, status, priority, progress, budget) in enumerate(projects, start=1)
    ]


def _appointments() -> list[dict[str, Any]]:
    rows = []
    for n in range(1, 13):
        day = f"2025-04-{n + 1:02d}"
        kind = _APPOINTMENT_KINDS[n % len(_APPOINTMENT_KINDS)]
        estate = _estate_id(n % len(_ESTATES) + 1)
        all_day = n % 6 == 0  # a valuation of a whole portfolio takes the day
        rows.append({
            "id": f"M{n:04d}",
            "subject": f"{kind} {estate}",
            "date": day,
            "start": f"{day}T00:00:00+02:00" if all_day else f"{day}T{9 + n % 8:02d}:00:00+02:00",
            "end": f"{day}T23:59:00+02:00" if all_day else f"{day}T{10 + n % 8:02d}:30:00+02:00",
            "allDay": all_day,
            "kind": kind,
            "status": "Cancelled" if n == 4 else ("Done" if n < 4 else "Planned"),
            "location": None if kind == "Meeting" else f"{_STREETS[n % len(_STREETS)][0]}, Berlin",
            "organizer": _USERS[n % len(_USERS)],
            "contactIds": [_contact_id(n + 1)],
            "estateId": None if kind == "Meeting" else estate,
            "private": n == 11,
            "note": None if n % 3 else "Bring the floor plans.",
        })
    return rows


def demo_crm_rows() -> dict[str, list[dict[str, Any]]]:
    """The demo records of each CRM data type, by its name; built afresh on each call, so callers may change them."""
    return {
        "Contacts": _contacts(),
        "Estates": _estates(),
        "Activities": _activities(),
        "History": _history(),
        "Projects": _projects(),
        "Appointments": _appointments(),
    }
