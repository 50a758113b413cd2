"""SyncDataCreation and SettingsSyncDataCreation: each Agent's package for the field app, rebuilt only when its content changed.

A data package holds the agent, the Accounts whose agentCode is the agent's code, every
Item, every Price and the tenant's settings; a settings package holds the agent's code and
the settings only. Each is JSON with sorted keys and no spaces (so the same content is the
same bytes), gzip-compressed, at `sync/<tenant>/<agent code>/data.json.gz` or
`settings.json.gz`. Documents carry their business fields only: the store's `_updated_at`
changes on a write that changes nothing, and would rebuild every package.

The manifest `sync/<tenant>/manifest.json` lists per agent code each package's key, the
sha256 and size of the file as stored (what the app checks), the sha256 of its JSON
(`content_sha256`, what tells a change) and when it was built. An agent whose JSON hashes
as the manifest says, and whose file is still there, keeps its package and its built_at.
Agents that are gone leave the manifest (their files stay). Both parts share the manifest:
each replaces only its own entries, and the tenant's single procedure lane keeps them from
running at once.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from ferry.core.clock import Clock, rfc3339
from ferry.jobs.ports import FileMissing, FileStore
from ferry.procedures.catalogue import Outcome, RunContext
from ferry.store.port import Collection, EntityStore, Query

DATA, SETTINGS = "data", "settings"
_PAGE = 1000

TenantSettings = Callable[[str], dict[str, Any]]


def package_key(tenant: str, agent_code: str, kind: str) -> str:
    # Percent-encoded so that a code with a slash stays one key segment and cannot reach the manifest's key.
    return f"sync/{tenant}/{quote(agent_code, safe='')}/{kind}.json.gz"


def manifest_key(tenant: str) -> str:
    return f"sync/{tenant}/manifest.json"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _object(members: dict[str, bytes]) -> bytes:
    """A JSON object from members already encoded, exactly as canonical() would write the whole."""
    return b"{" + b",".join(canonical(name) + b":" + members[name] for name in sorted(members)) + b"}"


def _business(doc: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in doc.items() if not name.startswith("_")}


def _every(store: EntityStore, coll: Collection) -> Iterator[dict[str, Any]]:
    query = Query(limit=_PAGE)
    while True:
        page = store.query(coll, query)
        yield from (_business(doc) for doc in page.docs)
        if page.next_after is None:
            return
        query = replace(query, after=page.next_after)


class _AgentPackages(ABC):
    """One package per Agent, of the kind its subclass builds."""

    kind: str

    def __init__(self, store: EntityStore, files: FileStore, clock: Clock, settings: TenantSettings) -> None:
        self._store = store
        self._files = files
        self._clock = clock
        self._settings = settings

    @abstractmethod
    def _contents(self, tenant: str, agents: list[dict[str, Any]]) -> Iterator[tuple[str, bytes]]:
        """(agent code, the JSON of its package) for each agent."""

    def __call__(self, run: RunContext) -> Outcome:
        manifest = self._manifest(run.tenant)
        agents = list(_every(self._store, Collection(run.tenant, "Agents")))
        built_at = rfc3339(self._clock.now())
        entries: dict[str, dict[str, Any]] = {}
        counts = {"built": 0, "unchanged": 0}
        for done, (code, content) in enumerate(self._contents(run.tenant, agents), start=1):
            earlier = manifest.get(code, {})
            entry = earlier.get(self.kind)
            key = package_key(run.tenant, code, self.kind)
            digest = hashlib.sha256(content).hexdigest()
            if entry is not None and entry["content_sha256"] == digest and self._files.size(key) == entry["size"]:
                counts["unchanged"] += 1
            else:
                body = gzip.compress(content, mtime=0)  # mtime 0: the same content is the same file
                self._files.put(key, body, "application/gzip")
                entry = {"key": key, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body), "content_sha256": digest, "built_at": built_at}
                counts["built"] += 1
            entries[code] = {**earlier, self.kind: entry}
            run.report(f"{done} of {len(agents)} agents")
        if entries != manifest:
            self._files.put(manifest_key(run.tenant), canonical({"agents": entries}), "application/json")
        summary = f"{counts['built']} {self.kind} packages built, {counts['unchanged']} unchanged."
        return Outcome(summary, counts)

    def _manifest(self, tenant: str) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self._files.get(manifest_key(tenant)))["agents"]
        except FileMissing:
            return {}


class SyncDataCreation(_AgentPackages):
    kind = DATA

    def _contents(self, tenant: str, agents: list[dict[str, Any]]) -> Iterator[tuple[str, bytes]]:
        # One pass over the accounts for every agent; items, prices and settings are encoded once and shared.
        accounts: dict[str, list[dict[str, Any]]] = {}
        for account in _every(self._store, Collection(tenant, "Accounts")):
            if account.get("agentCode") is not None:
                accounts.setdefault(account["agentCode"], []).append(account)
        shared = {
            "items": canonical(list(_every(self._store, Collection(tenant, "Items")))),
            "prices": canonical(list(_every(self._store, Collection(tenant, "Prices")))),
            "settings": canonical(self._settings(tenant)),
        }
        for agent in agents:
            own = {"agent": canonical(agent), "accounts": canonical(accounts.get(agent["code"], []))}
            yield agent["code"], _object({**shared, **own})


class SettingsSyncDataCreation(_AgentPackages):
    kind = SETTINGS

    def _contents(self, tenant: str, agents: list[dict[str, Any]]) -> Iterator[tuple[str, bytes]]:
        settings = canonical(self._settings(tenant))
        for agent in agents:
            yield agent["code"], _object({"agentCode": canonical(agent["code"]), "settings": settings})
