"""The SFTP destination as a Source: fetch against a real asyncssh server on loopback, and ImportFiles copying through it.

Every failure is the server's own answer: a host key other than the pinned one, a path
with no file behind it.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest

from ferry.testing import resolve_unvetted
from ferry.destinations.port import DestinationFailed, DestinationSecrets, SftpConfig, Source
from ferry.destinations.sftp import SftpDestination
from ferry.procedures.catalogue import RunContext
from ferry.procedures.import_files import ImportFiles
from ferry.testing import InMemoryFiles
from ferry_local.file_servers import SftpServer

PASSWORD = "s3cret-Pa55"
PAYLOAD = os.urandom(2 * 1024 * 1024 + 17)  # past one chunk of the adapter's reads, and odd-sized


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[SftpServer]:
    root = tmp_path_factory.mktemp("sftp-source")
    (root / "in").mkdir()
    (root / "in" / "customers.csv").write_bytes(PAYLOAD)
    with SftpServer(root, {"alice": PASSWORD}) as sftp:
        yield sftp


def _source(server: SftpServer, **changes: object) -> SftpDestination:
    config = SftpConfig(**{"host": "127.0.0.1", "port": server.port, "username": "alice",
                           "host_key_fingerprint": server.host_key_fingerprint, "folder": "/in", **changes})
    return SftpDestination(config, DestinationSecrets(password=PASSWORD), resolve_unvetted)


@pytest.mark.parametrize("path", ["/in/customers.csv", "customers.csv"])
def test_fetch_streams_the_whole_file_into_the_sink(server, path):
    sink = io.BytesIO()

    size = _source(server).fetch(path, sink)

    assert isinstance(_source(server), Source)
    assert size == len(PAYLOAD)
    assert sink.getvalue() == PAYLOAD


def test_a_host_key_other_than_the_pinned_one_fails_at_host_key_and_reads_nothing(server):
    pinned = "SHA256:" + "A" * 43
    sink = io.BytesIO()

    with pytest.raises(DestinationFailed) as failed:
        _source(server, host_key_fingerprint=pinned).fetch("/in/customers.csv", sink)

    assert failed.value.step == "host_key"
    assert pinned in failed.value.reason and server.host_key_fingerprint in failed.value.reason
    assert sink.getvalue() == b""


@pytest.mark.parametrize("path", ["/in/nope.csv", "/no-such-folder/customers.csv"])
def test_a_path_with_no_file_fails_saying_so(server, path):
    with pytest.raises(DestinationFailed) as failed:
        _source(server).fetch(path, io.BytesIO())

    assert failed.value.step == "permission"
    assert failed.value.reason.startswith(f"There is no file {path} on 127.0.0.1:")


def test_a_sink_that_breaks_raises_its_own_error(server):
    class FullDisk(io.BytesIO):
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left") as failed:
        _source(server).fetch("/in/customers.csv", FullDisk())

    assert not isinstance(failed.value, DestinationFailed)


def test_import_files_copies_the_file_from_the_server_and_submits_the_copy(server):
    files, submitted = InMemoryFiles(), []
    entries = [{"source": "sftp", "destinationId": "D1", "path": "customers.csv", "dataType": "Customers"}]

    def submit(tenant, kind, args, attachment_key, *, idempotency_key):
        submitted.append((kind, attachment_key))
        return "job-2"

    part = ImportFiles(lambda tenant: {"importFiles": entries}, submit, files, lambda tenant, destination_id: _source(server))
    outcome = part(RunContext("t1", "job-1", {}, lambda _text: None))

    assert outcome.problems == []
    assert submitted == [("import_csv", "imports/t1/job-1/0-customers.csv")]
    assert files.get("imports/t1/job-1/0-customers.csv") == PAYLOAD
