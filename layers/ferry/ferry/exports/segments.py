"""Segments: named filters on one data type, saved by a tenant and named by exports (seed 001's filter.segments).

A filter is the store's validated MongoDB subset (ferry.store.filters): operators that
could run code or scan without bound ($where, $function, $accumulator, $expr, an
unanchored $regex) are refused with a problem naming the operator and where it is.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ConfigDict, Field

from ferry.core.clock import Clock, rfc3339
from ferry.core.errors import FieldError, InvalidRequest, NotFound, shown
from ferry.core.ids import new_ulid
from ferry.core.lazy_model import LazyModel
from ferry.datatypes.registry import UnsupportedImport, named
from ferry.jobs.ports import SavedItems
from ferry.store import filters
from ferry.store.port import InvalidFilter

KIND = "segment"


class SegmentIn(LazyModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    dataType: str = Field(max_length=100)
    description: str = Field(default="", max_length=2000)
    filter: dict[str, Any] = Field(description="The store's MongoDB subset: $eq $ne $in $nin $gt $gte $lt $lte $exists $and $or, $regex as an anchored prefix")


@dataclass(frozen=True)
class Segment:
    id: str
    name: str
    dataType: str
    description: str
    filter: dict[str, Any]
    created_at: str


class Segments:
    def __init__(self, saved: SavedItems, clock: Clock) -> None:
        self._saved = saved
        self._clock = clock

    def create(self, tenant: str, given: SegmentIn, segment_id: str | None = None) -> Segment:
        try:
            data_type = named(given.dataType)
        except UnsupportedImport as exc:
            raise InvalidRequest(str(exc), [FieldError("/dataType", str(exc))]) from exc
        try:
            checked = filters.validate_kept(given.filter)
        except InvalidFilter as exc:
            raise InvalidRequest(f"The filter is refused: {exc}.", [FieldError(exc.path, str(exc))]) from exc
        now = self._clock.now()
        segment = Segment(segment_id or new_ulid(int(now.timestamp() * 1000)), given.name, data_type.name, given.description, checked, rfc3339(now))
        self._saved.put(tenant, KIND, segment.id, asdict(segment), new=True)
        return segment

    def get(self, tenant: str, segment_id: str) -> Segment:
        found = self._saved.get(tenant, KIND, segment_id)
        if found is None:
            raise NotFound(f"No segment {shown(segment_id)}.")
        return Segment(**found)

    def list(self, tenant: str) -> list[Segment]:
        return sorted((Segment(**item) for item in self._saved.list(tenant, KIND)), key=lambda s: s.id, reverse=True)

    def delete(self, tenant: str, segment_id: str) -> None:
        if not self._saved.delete(tenant, KIND, segment_id):
            raise NotFound(f"No segment {shown(segment_id)}.")
