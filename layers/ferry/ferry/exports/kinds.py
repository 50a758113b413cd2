"""The export kind: records of one data type to a zipped CSV, in the files bucket and at a destination.

Args name the data type, the fields (none: all), a filter in the store's validated
MongoDB subset, saved segments (more filters, by id), `changedSince` (only records
changed since then: seed 001's filter.fromIngestTimestamp), the destination (none:
the files bucket only) and how the file looks (seed 003: headers as names or labels,
multi-value fields joined or spread, a prefix, the date in the name or not).
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema, field_validator

from ferry.core.errors import FieldError, InvalidRequest, shown
from ferry.core.lazy_model import LazyModel
from ferry.datatypes.paths import field_paths
from ferry.datatypes.registry import REGISTRY, UnsupportedImport, named
from ferry.jobs.kinds import AttachmentRule, JobKind, register
from ferry.jobs.ports import References
from ferry.store import filters
from ferry.store.port import InvalidFilter

EXPORT_CSV = "export_csv"
# Seed 003: at most 20 characters, letters without umlauts, digits, underscore and hyphen.
_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,20}$")


def _file_prefix(value: str) -> str:
    if not _PREFIX.fullmatch(value):
        raise ValueError("at most 20 characters: letters without umlauts, digits, _ or -")
    return value


# What a file name may start with (seed 003): an export's args and a scheduled configuration take the same.
FilePrefix = Annotated[str, AfterValidator(_file_prefix)]


class ExportArgs(LazyModel):
    model_config = ConfigDict(extra="forbid")

    dataType: Annotated[str, Field(max_length=100), WithJsonSchema({"type": "string", "enum": sorted(REGISTRY)})]
    fields: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=500, description="Dotted field paths, in column order; empty: every field"
    )
    filter: dict[str, Any] = Field(default_factory=dict, description="A filter in the store's MongoDB subset")
    segments: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=20)
    changedSince: datetime | None = Field(default=None, description="Only records created or changed at or after (RFC 3339)")
    destinationId: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    prefix: FilePrefix = Field(default="", description="Put before the file name: at most 20 letters (no umlauts), digits, _ or -")
    headers: Literal["names", "labels"] = "names"
    multiValue: Literal["join", "spread"] = "join"
    dateInName: bool = Field(default=True, description="<prefix><Module>_<yyyymmdd>.zip, or <prefix><Module>.zip overwritten each time")

    @field_validator("changedSince")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


class ScheduledExportArgs(ExportArgs):
    """What only the scheduler sets (seed 003), never taken from a request: a client could otherwise
    move its configuration's watermark or release its lease."""

    changedBefore: datetime | None = Field(default=None, description="Only records changed before (a scheduled run's as-of time)")
    limit: int | None = Field(default=None, ge=1, le=1000, description="Only the first records (a test export)")
    schedule: dict[str, Any] | None = Field(default=None, description="The configuration, night and lease this run is for")

    @field_validator("changedBefore")
    @classmethod
    def _aware_before(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry its time zone (RFC 3339, e.g. 2026-11-22T03:00:00Z)")
    return value


def _check(args: ExportArgs) -> dict[str, Any]:
    try:
        data_type = named(args.dataType)
    except UnsupportedImport as exc:
        raise InvalidRequest(str(exc), [FieldError("/args/dataType", str(exc))]) from exc
    known = field_paths(data_type.model, lists_of_objects=True)
    unknown = [f for f in args.fields if f not in known]
    if unknown:
        pointers = [FieldError(f"/args/fields/{args.fields.index(f)}", f"no field {shown(f)} in {data_type.name}") for f in unknown]
        raise InvalidRequest(f"{data_type.name} has no field {', '.join(shown(f) for f in unknown)}; it has {', '.join(known)}.", pointers)
    try:
        checked = filters.validate_kept(args.filter)
    except InvalidFilter as exc:
        raise InvalidRequest(f"The filter is refused: {exc}.", [FieldError(f"/args{exc.path}", str(exc))]) from exc
    stored = args.model_dump(mode="json", exclude_none=True)
    return {**stored, "dataType": data_type.name, "filter": checked}


def _references(tenant: str, args: dict[str, Any], references: References) -> None:
    for i, segment_id in enumerate(args.get("segments", [])):
        segment = references.get(tenant, "segment", segment_id)
        if segment is None:
            raise InvalidRequest(f"There is no segment {shown(segment_id)}.", [FieldError(f"/args/segments/{i}", "unknown segment")])
        if segment.get("dataType", args["dataType"]) != args["dataType"]:
            # Its filter names another type's fields: it would match nothing, and the export would say so as a success.
            raise InvalidRequest(
                f"The segment {shown(segment_id)} filters {segment['dataType']}, not {args['dataType']}.",
                [FieldError(f"/args/segments/{i}", f"a segment of {args['dataType']}")],
            )
    destination = args.get("destinationId")
    if destination is not None and references.get(tenant, "destination", destination) is None:
        raise InvalidRequest(f"There is no destination {shown(destination)}.", [FieldError("/args/destinationId", "unknown destination")])


EXPORT = register(
    JobKind(
        name=EXPORT_CSV,
        description="Export records of one data type as a zipped CSV to the files bucket and, if named, a destination.",
        args_model=ExportArgs,
        state_machine="export",
        attachment=AttachmentRule.NONE,
        check_args=_check,
        check_references=_references,
        example={
            "type": EXPORT_CSV,
            "args": {"dataType": "Customers", "fields": ["vendorId", "name", "location.settlement"], "changedSince": "2026-11-01T00:00:00Z"},
        },
    )
)


def scheduled_export_args(raw: dict[str, Any]) -> dict[str, Any]:
    """The args of a run the scheduler starts, checked as any export's, with the fields only it may set."""
    return replace(EXPORT, args_model=ScheduledExportArgs).args(raw)
