"""The procedures of seed 000, by endpoint name: what each does, its parts, whether it takes `tables`.

A procedure is run by the procedure state machine as a list of parts, one after the
other (a composite names several; the others are their own single part). The step
code of each part is a `Part`: called with a `RunContext`, it does its work
idempotently (a retry after a crash neither duplicates nor loses anything) and
answers an `Outcome` for the job's output and the mail. Parts live in their own
modules and are wired by the worker, so their heavy imports (SQLAlchemy, a geocoder)
load only there.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Procedure:
    name: str
    description: str
    parts: tuple[str, ...]  # the parts run in this order; a plain procedure is its own one part
    takes_tables: bool = False


PROCEDURES: dict[str, Procedure] = {
    p.name: p
    for p in (
        Procedure("FullImportFromErp", "Reads every ERP table into the staging area.", ("FullImportFromErp",)),
        Procedure("ImportFromErp", "Reads the ERP tables named by `tables` into the staging area.", ("ImportFromErp",), takes_tables=True),
        Procedure("LoadFromIntegrator", "Loads the staging area into the entity store, validated, with per-row errors.", ("LoadFromIntegrator",)),
        Procedure("ImportFiles", "Imports the files named in the tenant's settings with the file-import kinds.", ("ImportFiles",)),
        Procedure("DownloadItemsImages", "Downloads each Item's image into S3; an unchanged image is not fetched again.", ("DownloadItemsImages",)),
        Procedure("GeocodeAddresses", "Geocodes every Account; an unchanged address is not geocoded again.", ("GeocodeAddresses",)),
        Procedure("SyncDataCreation", "Builds each Agent's data package (accounts, items, prices, settings).", ("SyncDataCreation",)),
        Procedure("SettingsSyncDataCreation", "Builds each Agent's settings package.", ("SettingsSyncDataCreation",)),
        Procedure(
            "LoadFromIntegratorAndPrepareSyncData",
            "LoadFromIntegrator, then SyncDataCreation; the second does not start if the first failed.",
            ("LoadFromIntegrator", "SyncDataCreation"),
        ),
        Procedure("ExportToErp", "Writes the platform's new orders back to the ERP, each exactly once.", ("ExportToErp",)),
    )
}

# The ERP tables ImportFromErp may name (`?tables=Item,ItemOfflineAvailability`).
ERP_TABLES = ("Item", "ItemOfflineAvailability", "Account", "Agent", "Price", "Order")


@dataclass
class RunContext:
    """What a part gets: who it runs for, its args, and a way to say what it is doing."""

    tenant: str
    job_id: str
    args: dict[str, Any]
    report: Callable[[str], None]  # the job's running_output


@dataclass
class Outcome:
    """What a part did, for the job's output and the mail: counts by name, and what went wrong without failing it."""

    summary: str
    counts: dict[str, int] = field(default_factory=dict)
    failed: int = 0  # items that failed without failing the part (a bad image URL), all of them
    problems: list[str] = field(default_factory=list)  # what went wrong with some of them, in words


class Part(Protocol):
    def __call__(self, run: RunContext) -> Outcome: ...
