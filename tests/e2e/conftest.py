"""One local stack per test process, driven over HTTP like a user's script would."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

from ferry.store.sqlite import SqliteEntityStore
from ferry_local.stack import LocalStack
from tests.e2e.client import FerryClient
from tests.e2e.invariants import documents_by_writer, violations, wait_until_every_job_ended

E2E_CHUNK_ROWS = 1000  # small chunks, so a few thousand rows already make a multi-chunk job
API_KEY_CACHE_SECONDS = 2


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    keys = {"tenant-a": f"key-a-{secrets.token_hex(8)}", "tenant-b": f"key-b-{secrets.token_hex(8)}"}
    # URL attachments and destinations may name "localhost" (the tests' own servers); 127.0.0.1 stays refused like any private address.
    # Keys are trusted for 2 s, so that a revoked key is seen refused within a test.
    overrides = {"ChunkRows": E2E_CHUNK_ROWS, "AllowedPrivateHosts": "localhost", "Geocoder": "gazetteer", "ApiKeyCacheSeconds": API_KEY_CACHE_SECONDS}
    with LocalStack(state_dir=tmp_path_factory.mktemp("state"), keys=keys, parameter_overrides=overrides) as stack:
        yield stack
        # Whatever the tests did, every job this stack ran must have ended and tell the truth.
        jobs = wait_until_every_job_ended(stack)
        broken = violations(jobs, documents_by_writer(stack.sqlite_path))
        assert not broken, "jobs that lie:\n" + "\n".join(broken)


@pytest.fixture(scope="session")
def tenant_a() -> str:
    return "tenant-a"


@pytest.fixture(scope="session")
def tenant_b() -> str:
    return "tenant-b"


@pytest.fixture(scope="session")
def client(local_stack, tenant_a) -> FerryClient:
    return FerryClient(local_stack.url, local_stack.keys[tenant_a])


@pytest.fixture(scope="session")
def other_client(local_stack, tenant_b) -> FerryClient:
    return FerryClient(local_stack.url, local_stack.keys[tenant_b])


@pytest.fixture(scope="session")
def entities(local_stack) -> SqliteEntityStore:
    """The stack's entity store, read directly: what was really stored."""
    return SqliteEntityStore(str(local_stack.sqlite_path))


@dataclass
class Tenant:
    tenant: str
    client: FerryClient


@pytest.fixture
def fresh(local_stack) -> Tenant:
    """A tenant of its own, for a test that must start from an empty store."""
    tenant = f"tenant-{secrets.token_hex(4)}"
    key = secrets.token_hex(16)
    local_stack.add_tenant(tenant, key)
    return Tenant(tenant, FerryClient(local_stack.url, key))
