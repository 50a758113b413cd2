"""GeocodeAddresses: each Account's address placed on the map (geoCoordinate), an unchanged address never asked twice.

What was asked is remembered in the entity store, in a collection of its own beside the
Accounts (one document per account: a hash of the address and what the geocoder said,
nothing when it could not place it). The Accounts model refuses fields it does not know, so
the memory cannot live in the account; in the store it is read and written page by page with
the accounts, so a run cut short (a Lambda timeout, a crash) and retried resumes where the
last page ended instead of asking again. An account is asked for when its address differs
from the remembered one; one never asked for that already has a geoCoordinate keeps it (the
ERP sent it with the address) and only its address is remembered. An address the geocoder
cannot place is reported, not retried, until it changes.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from ferry.core.clock import Clock, SystemClock, rfc3339
from ferry.procedures.catalogue import Outcome, RunContext
from ferry.store.port import Action, Collection, EntityStore, Query, WriteRow

ACCOUNTS = "Accounts"
# Named unlike any data type (which are plural words), so no import or export can reach it.
MEMORY = "_ferry_geocoded_addresses"
_PAGE = 500


class Geocoder(Protocol):
    def geocode(self, address: Mapping[str, str]) -> tuple[float, float] | None:
        """(latitude, longitude) of an Accounts address (street, city, postalCode, country); None when it cannot place it.

        Raises when the geocoder itself fails (unreachable, throttled): the part fails and is retried.
        """


def address_hash(address: Mapping[str, Any]) -> str:
    # Blanks and surrounding spaces do not move an address, so they do not count as a change.
    kept = {name: value.strip() for name, value in address.items() if isinstance(value, str) and value.strip()}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


_NO_ADDRESS = address_hash({})


class GeocodeAddresses:
    def __init__(self, store: EntityStore, geocoder: Geocoder, clock: Clock | None = None) -> None:
        self._store = store
        self._geocoder = geocoder
        self._clock = clock or SystemClock()

    def __call__(self, run: RunContext) -> Outcome:
        accounts = Collection(run.tenant, ACCOUNTS)
        memory = Collection(run.tenant, MEMORY)
        counts = {"geocoded": 0, "unchanged": 0, "given": 0, "without_address": 0, "unplaced": 0}
        problems: list[str] = []
        query = Query(fields=["code", "address", "geoCoordinate"], limit=_PAGE)
        row = 0
        while True:
            page = self._store.query(accounts, query)
            remembered = self._store.get(memory, [doc["_key"] for doc in page.docs])
            placed: list[WriteRow] = []
            learned: list[WriteRow] = []
            for doc in page.docs:
                row += 1
                address = doc.get("address") or {}
                digest = address_hash(address)
                if digest == _NO_ADDRESS:
                    counts["without_address"] += 1
                    continue
                before = remembered.get(doc["_key"])
                if before is not None and before["addressHash"] == digest:
                    if before.get("geoCoordinate") is None:
                        counts["unplaced"] += 1
                        problems.append(_unplaced(doc["code"], address))
                    else:
                        counts["unchanged"] += 1
                    continue
                if before is None and doc.get("geoCoordinate") is not None:
                    counts["given"] += 1
                    learned.append(WriteRow(row, doc["_key"], {"addressHash": digest, "geoCoordinate": doc["geoCoordinate"]}))
                    continue
                found = self._geocoder.geocode(address)
                coordinate = None if found is None else {"latitude": found[0], "longitude": found[1]}
                if coordinate is None:
                    counts["unplaced"] += 1
                    problems.append(_unplaced(doc["code"], address))
                else:
                    counts["geocoded"] += 1
                    placed.append(WriteRow(row, doc["_key"], {"geoCoordinate": coordinate}))
                learned.append(WriteRow(row, doc["_key"], {"addressHash": digest, "geoCoordinate": coordinate}))
            now = rfc3339(self._clock.now())
            # The accounts first: a crash in between leaves an account placed but not remembered, asked again next time.
            self._store.write_batch(accounts, Action.UPDATE, placed, writer=run.job_id, now=now)
            # The memory is bookkeeping, not the job's business rows: written under a writer of its own.
            self._store.write_batch(memory, Action.CREATE_OR_UPDATE, learned, writer=f"{run.job_id}/memory", now=now)
            run.report(f"{row} accounts looked at, {counts['geocoded']} geocoded")
            if page.next_after is None:
                break
            query = replace(query, after=page.next_after)
        summary = f"{counts['geocoded']} accounts geocoded, {counts['unchanged'] + counts['given']} unchanged, {counts['unplaced']} not placed."
        return Outcome(summary, counts, counts["unplaced"], problems)


def _unplaced(code: str, address: Mapping[str, Any]) -> str:
    written = ", ".join(str(address[name]) for name in ("street", "postalCode", "city", "country") if address.get(name))
    return f"Account {code}: the address \"{written}\" could not be placed"
