"""Export destinations against real servers on loopback (asyncssh SFTP, pyftpdlib FTP and FTPS) and S3 in moto.

Every failure is a server's own answer: a wrong host key or certificate, a wrong
password, a missing folder, a folder the server keeps read-only (a chmod would not stop
CI, which runs as root), a name that does not resolve, a port nobody listens on.
"""
from __future__ import annotations

import errno
import io
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from moto import mock_aws
from pydantic import TypeAdapter, ValidationError
from pyftpdlib.filesystems import AbstractedFS

from ferry.testing import resolve_unvetted
from ferry.aws.s3_destination import S3Destination, s3_client_as_role
from ferry.destinations import (
    Destination,
    DestinationConfig,
    DestinationFailed,
    DestinationSecrets,
    FtpConfig,
    S3Config,
    SftpConfig,
    open_destination,
)
from ferry.destinations.ftp import FtpDestination
from ferry.destinations.sftp import SftpDestination
from ferry_local.file_servers import FtpServer, SftpServer

PASSWORD = "s3cret-Pa55"
READ_ONLY = "readonly"
PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)  # past one chunk of the adapters' reads, and odd-sized


def _private_key(kind: str):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _pem(key, form: str) -> str:
    formats = {
        "openssh": serialization.PrivateFormat.OpenSSH,
        "pkcs8": serialization.PrivateFormat.PKCS8,
        "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
    }
    return key.private_bytes(serialization.Encoding.PEM, formats[form], serialization.NoEncryption()).decode()


def _public_line(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


KEYS = {kind: _private_key(kind) for kind in ("rsa", "ecdsa", "ed25519")}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("file-servers")
    (path / READ_ONLY).mkdir()
    return path


@pytest.fixture(scope="module")
def sftp_server(root) -> Iterator[SftpServer]:
    keys = "\n".join(_public_line(key) for key in KEYS.values())
    with SftpServer(root, {"alice": PASSWORD}, authorized_keys={"alice": keys}, read_only=[READ_ONLY]) as server:
        yield server


@pytest.fixture(scope="module")
def ftp_server(root) -> Iterator[FtpServer]:
    with FtpServer(root, {"alice": PASSWORD}, read_only=[READ_ONLY]) as server:
        yield server


@pytest.fixture(scope="module")
def ftps_server(root) -> Iterator[FtpServer]:
    with FtpServer(root, {"alice": PASSWORD}, tls=True, read_only=[READ_ONLY]) as server:
        yield server


@pytest.fixture
def folder(root) -> Path:
    path = root / uuid.uuid4().hex[:12]
    path.mkdir()
    return path


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


Make = Callable[..., Destination]


@pytest.fixture(params=["sftp", "ftp", "ftps", "ftp-active"])
def make(request, folder) -> Make:
    """A destination on one of the servers, writing to this test's folder; keywords change its config or password."""
    kind = request.param

    def make_destination(password: str = PASSWORD, **changes: object) -> Destination:
        if kind == "sftp":
            server = request.getfixturevalue("sftp_server")
            config = SftpConfig(**{"host": "127.0.0.1", "port": server.port, "username": "alice",
                                   "host_key_fingerprint": server.host_key_fingerprint, "folder": f"/{folder.name}", **changes})
        else:
            server = request.getfixturevalue("ftps_server" if kind == "ftps" else "ftp_server")
            pin = {"certificate_fingerprint": server.certificate_fingerprint} if kind == "ftps" else {}
            config = FtpConfig(**{"type": "ftps" if kind == "ftps" else "ftp", "host": "127.0.0.1", "port": server.port,
                                  "username": "alice", "folder": f"/{folder.name}", "passive": kind != "ftp-active", **pin, **changes})
        return open_destination(config, DestinationSecrets(password=password), s3_destination=_no_s3, resolve=resolve_unvetted)

    return make_destination


def _no_s3(config: S3Config) -> Destination:
    raise AssertionError("not an S3 destination")


class BreakingStream(io.RawIOBase):
    """The export's source failing after `good` bytes."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left == 0:
            raise RuntimeError("the source broke")
        n = self._left if size < 0 else min(size, self._left)
        self._left -= n
        return b"x" * n


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- what every server destination does ------------------------------------------------


def test_a_put_lands_the_whole_file_under_its_name_and_leaves_no_temporary_file(make, folder):
    delivery = make().put("customers.zip", io.BytesIO(PAYLOAD))

    assert (folder / "customers.zip").read_bytes() == PAYLOAD
    assert _listing(folder) == ["customers.zip"]
    assert re.fullmatch(rf"(sftp|ftps?)://127\.0\.0\.1:\d+/{folder.name}/customers\.zip", delivery.location)


def test_while_a_put_runs_the_file_is_only_under_a_hidden_temporary_name(make, folder):
    class Watching(io.RawIOBase):
        """Looks at the server's folder each time the destination asks for more bytes."""

        def __init__(self) -> None:
            self.seen: list[list[str]] = []
            self._data = io.BytesIO(PAYLOAD)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.seen.append(_listing(folder))
            return self._data.read(size)

    stream = Watching()
    make().put("customers.zip", stream)

    during = stream.seen[1:-1]  # the server has the temporary file open from the first write on
    assert during and all(len(names) == 1 and re.fullmatch(r"\.ferry-[0-9a-f]{16}\.part", names[0]) for names in during)
    assert _listing(folder) == ["customers.zip"]


def test_a_put_replaces_an_existing_file(make, folder):
    (folder / "customers.zip").write_bytes(b"yesterday's export, longer than today's" * 100)

    make().put("customers.zip", io.BytesIO(b"today"))

    assert (folder / "customers.zip").read_bytes() == b"today"
    assert _listing(folder) == ["customers.zip"]


def test_a_source_that_breaks_mid_stream_raises_its_own_error_and_leaves_no_file(make, folder):
    (folder / "customers.zip").write_bytes(b"the previous export")

    with pytest.raises(RuntimeError, match="the source broke"):
        make().put("customers.zip", BreakingStream(good=2 * 1024 * 1024 + 5))

    assert _listing(folder) == ["customers.zip"]
    assert (folder / "customers.zip").read_bytes() == b"the previous export"


def test_remove_removes_the_file_its_put_wrote_and_a_missing_file_is_fine(make, folder):
    destination = make()
    delivery = destination.put("customers.zip", io.BytesIO(b"x"))

    assert destination.remove("customers.zip", delivery.version) is True
    assert destination.remove("customers.zip", delivery.version) is True

    assert _listing(folder) == []


def test_remove_leaves_a_file_another_put_wrote_over_its_own(make, folder):
    older, newer = make(), make()
    delivered = older.put("customers.zip", io.BytesIO(b"the older export"))
    newer.put("customers.zip", io.BytesIO(PAYLOAD))

    assert older.remove("customers.zip", delivered.version) is False

    assert (folder / "customers.zip").read_bytes() == PAYLOAD


def test_remove_leaves_a_file_of_the_same_size_written_over_its_own_later(make, folder):
    destination = make()
    delivered = destination.put("customers.zip", io.BytesIO(b"monday's export"))
    written = folder / "customers.zip"
    written.write_bytes(b"friday's export")
    later = written.stat().st_mtime + 5  # written in another second, as a later delivery is
    os.utime(written, (later, later))

    assert destination.remove("customers.zip", delivered.version) is False

    assert written.read_bytes() == b"friday's export"


def test_check_passes_on_a_good_config_and_leaves_nothing(make, folder):
    make().check()

    assert _listing(folder) == []


@pytest.mark.parametrize("operation", ["put", "check"])
def test_a_wrong_password_fails_at_auth_and_the_reason_holds_no_secret(make, folder, operation):
    destination = make(password="wrong-" + PASSWORD)

    with pytest.raises(DestinationFailed) as failed:
        destination.put("x.zip", io.BytesIO(b"x")) if operation == "put" else destination.check()

    assert failed.value.step == "auth"
    assert PASSWORD not in failed.value.reason and "Traceback" not in failed.value.reason
    assert _listing(folder) == []


@pytest.mark.parametrize("operation", ["put", "check"])
def test_a_folder_that_does_not_exist_fails_at_permission(make, operation):
    destination = make(folder="/no-such-folder")

    with pytest.raises(DestinationFailed) as failed:
        destination.put("x.zip", io.BytesIO(b"x")) if operation == "put" else destination.check()

    assert failed.value.step == "permission"
    assert "/no-such-folder" in failed.value.reason


@pytest.mark.parametrize("operation", ["put", "check"])
def test_a_folder_the_server_keeps_read_only_fails_at_permission(make, root, operation):
    destination = make(folder=f"/{READ_ONLY}")

    with pytest.raises(DestinationFailed) as failed:
        destination.put("x.zip", io.BytesIO(b"x")) if operation == "put" else destination.check()

    assert failed.value.step == "permission"
    assert _listing(root / READ_ONLY) == []


def test_a_name_that_does_not_resolve_fails_at_dns(make):
    with pytest.raises(DestinationFailed) as failed:
        make(host="no-such-host.invalid").check()

    assert failed.value.step == "dns"
    assert "no-such-host.invalid" in failed.value.reason


def test_a_port_nobody_listens_on_fails_at_connect(make):
    with pytest.raises(DestinationFailed) as failed:
        make(port=_closed_port()).check()

    assert failed.value.step == "connect"


def test_a_file_name_with_a_folder_in_it_is_refused_before_connecting(make):
    with pytest.raises(ValueError, match="plain file name"):
        make(port=_closed_port()).put("../escape.zip", io.BytesIO(b"x"))


# -- SFTP: the pinned host key, private keys, servers without posix-rename -------------


def _sftp_config(server: SftpServer, folder: Path, **changes: object) -> SftpConfig:
    return SftpConfig(**{"host": "127.0.0.1", "port": server.port, "username": "alice",
                         "host_key_fingerprint": server.host_key_fingerprint, "folder": f"/{folder.name}", **changes})


@pytest.mark.parametrize("operation", ["put", "check"])
def test_sftp_a_host_key_other_than_the_pinned_one_fails_at_host_key_and_writes_nothing(sftp_server, folder, operation):
    pinned = "SHA256:" + "A" * 43
    destination = SftpDestination(_sftp_config(sftp_server, folder, host_key_fingerprint=pinned), DestinationSecrets(password=PASSWORD), resolve_unvetted)

    with pytest.raises(DestinationFailed) as failed:
        destination.put("x.zip", io.BytesIO(b"x")) if operation == "put" else destination.check()

    assert failed.value.step == "host_key"
    assert pinned in failed.value.reason and sftp_server.host_key_fingerprint in failed.value.reason
    assert _listing(folder) == []


def test_sftp_any_one_of_the_servers_host_keys_can_be_pinned(root, folder):
    with SftpServer(root, {"alice": PASSWORD}, host_key_types=("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")) as server:
        assert len(set(server.host_key_fingerprints.values())) == 3
        for kind, pinned in server.host_key_fingerprints.items():
            config = _sftp_config(server, folder, host_key_fingerprint=pinned)
            SftpDestination(config, DestinationSecrets(password=PASSWORD), resolve_unvetted).put(f"{kind}.txt", io.BytesIO(b"x"))

        with pytest.raises(DestinationFailed) as failed:
            SftpDestination(_sftp_config(server, folder, host_key_fingerprint="SHA256:" + "B" * 43), DestinationSecrets(password=PASSWORD), resolve_unvetted).check()

    assert failed.value.step == "host_key"
    assert all(fingerprint in failed.value.reason for fingerprint in server.host_key_fingerprints.values())
    assert _listing(folder) == ["ecdsa-sha2-nistp256.txt", "ssh-ed25519.txt", "ssh-rsa.txt"]


@pytest.mark.parametrize("kind,form", [
    ("ed25519", "openssh"), ("ed25519", "pkcs8"),
    ("ecdsa", "openssh"), ("ecdsa", "traditional"), ("ecdsa", "pkcs8"),
    ("rsa", "openssh"), ("rsa", "traditional"), ("rsa", "pkcs8"),
])
def test_sftp_a_private_key_logs_in(sftp_server, folder, kind, form):
    secrets = DestinationSecrets(private_key=_pem(KEYS[kind], form))

    SftpDestination(_sftp_config(sftp_server, folder), secrets, resolve_unvetted).put("keyed.zip", io.BytesIO(PAYLOAD))

    assert (folder / "keyed.zip").read_bytes() == PAYLOAD


def test_sftp_a_key_the_server_does_not_know_falls_back_to_the_password(sftp_server, folder):
    secrets = DestinationSecrets(private_key=_pem(ed25519.Ed25519PrivateKey.generate(), "openssh"), password=PASSWORD)

    SftpDestination(_sftp_config(sftp_server, folder), secrets, resolve_unvetted).check()


def test_sftp_a_key_the_server_does_not_know_fails_at_auth(sftp_server, folder):
    secrets = DestinationSecrets(private_key=_pem(ed25519.Ed25519PrivateKey.generate(), "openssh"))

    with pytest.raises(DestinationFailed) as failed:
        SftpDestination(_sftp_config(sftp_server, folder), secrets, resolve_unvetted).check()

    assert failed.value.step == "auth"
    assert "private key" in failed.value.reason


def test_sftp_a_key_under_a_passphrase_fails_at_auth_saying_so(sftp_server, folder):
    encrypted = KEYS["ed25519"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.BestAvailableEncryption(b"phrase")
    ).decode()

    with pytest.raises(DestinationFailed) as failed:
        SftpDestination(_sftp_config(sftp_server, folder), DestinationSecrets(private_key=encrypted), resolve_unvetted).check()

    assert failed.value.step == "auth"
    assert "passphrase" in failed.value.reason


def test_sftp_without_posix_rename_the_old_file_is_replaced_all_the_same(sftp_server, folder, monkeypatch):
    def unsupported(self, oldpath, newpath):
        raise asyncssh.SFTPOpUnsupported("posix-rename not supported")

    monkeypatch.setattr(asyncssh.SFTPServer, "posix_rename", unsupported)
    (folder / "customers.zip").write_bytes(b"old")

    SftpDestination(_sftp_config(sftp_server, folder), DestinationSecrets(password=PASSWORD), resolve_unvetted).put("customers.zip", io.BytesIO(b"new"))

    assert _listing(folder) == ["customers.zip"]
    assert (folder / "customers.zip").read_bytes() == b"new"


def _put_while_the_server_stalls(sftp_server, folder, answer: threading.Event) -> tuple[DestinationFailed, float, list[str], float]:
    """A put over a server that holds some request until `answer` is set: (its failure, seconds waited, the folder then, the timeout)."""
    import time

    from ferry.destinations.port import Timeouts

    (folder / "customers.zip").write_bytes(b"old")
    timeouts = Timeouts(connect_s=5.0, operation_s=2.0)
    destination = SftpDestination(_sftp_config(sftp_server, folder), DestinationSecrets(password=PASSWORD), resolve_unvetted, timeouts)
    started = time.monotonic()
    try:
        with pytest.raises(DestinationFailed) as failed:
            destination.put("customers.zip", io.BytesIO(b"new"))
        return failed.value, time.monotonic() - started, _listing(folder), timeouts.operation_s
    finally:
        answer.set()


def test_sftp_a_rename_the_server_never_answers_fails_at_the_timeout_naming_it_and_leaves_no_temporary_file(sftp_server, folder, monkeypatch):
    import asyncio

    answer = threading.Event()  # the server holds the rename until the test has looked
    rename = asyncssh.SFTPServer.posix_rename

    async def stalled(self, oldpath, newpath):
        while not answer.is_set():
            await asyncio.sleep(0.05)
        return rename(self, oldpath, newpath)

    monkeypatch.setattr(asyncssh.SFTPServer, "posix_rename", stalled)
    failure, waited, listing, timeout = _put_while_the_server_stalls(sftp_server, folder, answer)

    assert "rename" in failure.reason and "timed out" in failure.reason, failure.reason
    assert "remove" not in failure.reason  # a silent server is not taken for one without posix-rename
    assert waited < 2 * timeout, waited
    assert listing == ["customers.zip"] and (folder / "customers.zip").read_bytes() == b"old"


def test_sftp_a_look_at_the_written_file_the_server_never_answers_fails_at_the_timeout_and_leaves_no_temporary_file(sftp_server, folder, monkeypatch):
    import asyncio

    answer = threading.Event()  # the server holds the stat of the written file until the test has looked
    stat = asyncssh.SFTPServer.stat

    async def stalled(self, path):
        if os.path.basename(path).startswith(b".ferry-"):
            while not answer.is_set():
                await asyncio.sleep(0.05)
        return stat(self, path)

    monkeypatch.setattr(asyncssh.SFTPServer, "stat", stalled)
    failure, waited, listing, timeout = _put_while_the_server_stalls(sftp_server, folder, answer)

    assert "timed out" in failure.reason, failure.reason
    assert listing == ["customers.zip"] and (folder / "customers.zip").read_bytes() == b"old", listing
    assert waited < 2 * timeout, waited


def test_sftp_a_write_the_server_never_answers_fails_at_the_timeout_and_leaves_no_temporary_file(sftp_server, folder, monkeypatch):
    import asyncio

    answer = threading.Event()  # the server holds the writes of the temporary file until the test has looked
    write = asyncssh.SFTPServer.write

    async def stalled(self, file_obj, offset, data):
        while not answer.is_set():
            await asyncio.sleep(0.05)
        return write(self, file_obj, offset, data)

    monkeypatch.setattr(asyncssh.SFTPServer, "write", stalled)
    failure, waited, listing, timeout = _put_while_the_server_stalls(sftp_server, folder, answer)

    assert "timed out" in failure.reason, failure.reason
    assert waited < 3 * timeout, waited  # the write's timeout, then the clean-up on a session of its own
    assert listing == ["customers.zip"] and (folder / "customers.zip").read_bytes() == b"old", listing


def test_sftp_a_rename_refused_for_another_reason_is_not_worked_around_and_keeps_the_old_file(sftp_server, folder, monkeypatch):
    def refused(self, oldpath, newpath):
        raise asyncssh.SFTPFailure("quota exceeded")

    monkeypatch.setattr(asyncssh.SFTPServer, "posix_rename", refused)
    (folder / "customers.zip").write_bytes(b"old")

    with pytest.raises(DestinationFailed) as failed:
        SftpDestination(_sftp_config(sftp_server, folder), DestinationSecrets(password=PASSWORD), resolve_unvetted).put("customers.zip", io.BytesIO(b"new"))

    assert "rename" in failed.value.reason and "quota exceeded" in failed.value.reason, failed.value.reason
    assert _listing(folder) == ["customers.zip"] and (folder / "customers.zip").read_bytes() == b"old"


# -- FTP(S): the certificate, servers that will not rename over a file ----------------


def _ftps_config(server: FtpServer, folder: Path, **changes: object) -> FtpConfig:
    return FtpConfig(**{"type": "ftps", "host": "127.0.0.1", "port": server.port, "username": "alice",
                        "folder": f"/{folder.name}", "certificate_fingerprint": server.certificate_fingerprint, **changes})


def test_ftps_a_certificate_other_than_the_pinned_one_fails_at_host_key_and_writes_nothing(ftps_server, folder):
    pinned = ":".join(["AB"] * 32)
    destination = FtpDestination(_ftps_config(ftps_server, folder, certificate_fingerprint=pinned), DestinationSecrets(password=PASSWORD), resolve_unvetted)

    with pytest.raises(DestinationFailed) as failed:
        destination.put("x.zip", io.BytesIO(b"x"))

    assert failed.value.step == "host_key"
    assert pinned in failed.value.reason and ftps_server.certificate_fingerprint in failed.value.reason
    assert _listing(folder) == []


def test_ftps_without_a_pin_a_self_signed_certificate_is_not_trusted(ftps_server, folder):
    destination = FtpDestination(_ftps_config(ftps_server, folder, certificate_fingerprint=None), DestinationSecrets(password=PASSWORD), resolve_unvetted)

    with pytest.raises(DestinationFailed) as failed:
        destination.check()

    assert failed.value.step == "host_key"
    assert "self-signed" in failed.value.reason


def test_ftps_against_a_plain_ftp_server_fails_at_connect(ftp_server, folder):
    config = FtpConfig(type="ftps", host="127.0.0.1", port=ftp_server.port, username="alice", folder=f"/{folder.name}")

    with pytest.raises(DestinationFailed) as failed:
        FtpDestination(config, DestinationSecrets(password=PASSWORD), resolve_unvetted).check()

    assert failed.value.step == "connect"
    assert "TLS" in failed.value.reason


def test_ftp_a_server_that_will_not_rename_over_a_file_still_gets_it_replaced(ftp_server, folder, monkeypatch):
    rename = AbstractedFS.rename

    def like_windows(self, src, dst):
        if os.path.exists(dst):
            raise OSError(errno.EEXIST, "File exists")
        return rename(self, src, dst)

    monkeypatch.setattr(AbstractedFS, "rename", like_windows)
    (folder / "customers.zip").write_bytes(b"old")
    config = FtpConfig(type="ftp", host="127.0.0.1", port=ftp_server.port, username="alice", folder=f"/{folder.name}")

    FtpDestination(config, DestinationSecrets(password=PASSWORD), resolve_unvetted).put("customers.zip", io.BytesIO(b"new"))

    assert _listing(folder) == ["customers.zip"]
    assert (folder / "customers.zip").read_bytes() == b"new"


# -- S3 -------------------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="customer-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def _keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket="customer-bucket").get("Contents", []))


def _s3_destination(client) -> Callable[[S3Config], Destination]:
    return lambda config: S3Destination(client, config.bucket or "ferry-files", config.prefix)


def test_s3_a_put_lands_the_whole_file_and_replaces_an_old_one(s3):
    destination = open_destination(S3Config(bucket="customer-bucket", prefix="/exports/daily/"), DestinationSecrets(), _s3_destination(s3), resolve_unvetted)

    destination.put("customers.zip", io.BytesIO(b"yesterday"))
    delivery = destination.put("customers.zip", io.BytesIO(PAYLOAD))

    assert delivery.location == "s3://customer-bucket/exports/daily/customers.zip"
    assert s3.get_object(Bucket="customer-bucket", Key="exports/daily/customers.zip")["Body"].read() == PAYLOAD
    assert _keys(s3) == ["exports/daily/customers.zip"]


def test_s3_a_source_that_breaks_raises_its_own_error_and_writes_nothing(s3):
    destination = S3Destination(s3, "customer-bucket", "exports")

    with pytest.raises(RuntimeError, match="the source broke"):
        destination.put("customers.zip", BreakingStream(good=9 * 1024 * 1024))  # past boto3's multipart threshold

    assert _keys(s3) == []
    assert s3.list_multipart_uploads(Bucket="customer-bucket").get("Uploads", []) == []


def test_s3_check_and_remove(s3):
    destination = S3Destination(s3, "customer-bucket", "exports")
    delivery = destination.put("customers.zip", io.BytesIO(b"x"))

    destination.check()
    assert destination.remove("customers.zip", delivery.version) is True
    assert destination.remove("customers.zip", delivery.version) is True

    assert _keys(s3) == []


def test_s3_remove_leaves_an_object_another_put_wrote_over_its_own(s3):
    older, newer = S3Destination(s3, "customer-bucket", "exports"), S3Destination(s3, "customer-bucket", "exports")
    delivered = older.put("customers.zip", io.BytesIO(PAYLOAD))  # the same bytes: only the put tells them apart
    newer.put("customers.zip", io.BytesIO(PAYLOAD))

    assert older.remove("customers.zip", delivered.version) is False

    assert _keys(s3) == ["exports/customers.zip"]


def test_s3_remove_leaves_an_object_written_over_its_own_between_its_read_and_its_delete(s3):
    class WrittenOverOnceRead:
        """The client, but another writer replaces the object right after each HEAD."""

        def __getattr__(self, name):
            return getattr(s3, name)

        def head_object(self, **request):
            found = s3.head_object(**request)
            s3.put_object(Bucket=request["Bucket"], Key=request["Key"], Body=b"the newer export")
            return found

    delivered = S3Destination(s3, "customer-bucket", "exports").put("customers.zip", io.BytesIO(b"the older export"))

    assert S3Destination(WrittenOverOnceRead(), "customer-bucket", "exports").remove("customers.zip", delivered.version) is False

    assert s3.get_object(Bucket="customer-bucket", Key="exports/customers.zip")["Body"].read() == b"the newer export"


def test_s3_a_bucket_that_does_not_exist_fails_at_permission(s3):
    destination = S3Destination(s3, "no-such-bucket", "")

    for attempt in (destination.check, lambda: destination.put("x.zip", io.BytesIO(b"x"))):
        with pytest.raises(DestinationFailed) as failed:
            attempt()
        assert failed.value.step == "permission"
        assert "no-such-bucket" in failed.value.reason


def test_s3_an_endpoint_nobody_listens_on_fails_at_connect():
    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{_closed_port()}", region_name="eu-west-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2),
    )

    with pytest.raises(DestinationFailed) as failed:
        S3Destination(client, "customer-bucket").check()

    assert failed.value.step == "connect"


def test_s3_a_tenants_bucket_is_written_as_its_own_role_taken_with_its_external_id(s3):
    taken = []
    sts = boto3.client("sts")

    class RecordingSts:
        def assume_role(self, **request):
            taken.append(request)
            return sts.assume_role(**request)

    client = s3_client_as_role(RecordingSts(), "arn:aws:iam::210987654321:role/ferry-exports", "ferry:acme", "ferry-acme")
    S3Destination(client, "customer-bucket", "in").put("customers.zip", io.BytesIO(PAYLOAD))

    assert taken == [{"RoleArn": "arn:aws:iam::210987654321:role/ferry-exports", "RoleSessionName": "ferry-acme", "ExternalId": "ferry:acme"}]
    assert client.get_object(Bucket="customer-bucket", Key="in/customers.zip")["Body"].read() == PAYLOAD


def test_s3_a_role_that_will_not_be_taken_fails_at_auth():
    class Refusing:
        def assume_role(self, **request):
            error = {"Error": {"Code": "AccessDenied", "Message": "User is not authorized to perform: sts:AssumeRole"}}
            raise ClientError(error, "AssumeRole")

    with pytest.raises(DestinationFailed) as failed:
        s3_client_as_role(Refusing(), "arn:aws:iam::210987654321:role/ferry-exports", "ferry:acme", "ferry-acme")
    assert failed.value.step == "auth"
    assert "ferry-exports" in failed.value.reason and "not authorized" in failed.value.reason


# -- configs and secrets -----------------------------------------------------------------

CONFIGS = TypeAdapter(DestinationConfig)
FINGERPRINT = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"


def test_configs_are_told_apart_by_type_and_normalised():
    sftp = CONFIGS.validate_python({"type": "sftp", "host": "SFTP.Example.com", "username": "u",
                                    "host_key_fingerprint": FINGERPRINT + "=", "folder": "/in//out/./"})
    ftps = CONFIGS.validate_python({"type": "ftps", "host": "::1", "username": "u", "certificate_fingerprint": "ab" * 32})
    s3 = CONFIGS.validate_python({"type": "s3", "prefix": "/exports/daily/"})

    assert (type(sftp), sftp.host, sftp.port, sftp.folder, sftp.host_key_fingerprint) == (SftpConfig, "sftp.example.com", 22, "/in/out", FINGERPRINT)
    assert (type(ftps), ftps.port, ftps.passive, ftps.certificate_fingerprint) == (FtpConfig, 21, True, ":".join(["AB"] * 32))
    assert (type(s3), s3.bucket, s3.prefix) == (S3Config, None, "exports/daily")


@pytest.mark.parametrize("config", [
    {"type": "sftp", "host": "h", "username": "u", "host_key_fingerprint": "MD5:ab:cd"},
    {"type": "sftp", "host": "h", "username": "u", "host_key_fingerprint": "SHA256:short"},
    {"type": "sftp", "host": "bad host", "username": "u", "host_key_fingerprint": FINGERPRINT},
    {"type": "sftp", "host": "h", "port": 0, "username": "u", "host_key_fingerprint": FINGERPRINT},
    {"type": "ftp", "host": "h", "port": 65536, "username": "u"},
    {"type": "ftp", "host": "h", "username": "u", "folder": "/in/../etc"},
    {"type": "ftp", "host": "h", "username": "u\r\nDELE x"},
    {"type": "ftp", "host": "h", "username": "u", "certificate_fingerprint": "AB" * 32},
    {"type": "s3", "bucket": "No_Such"},
    {"type": "s3", "prefix": "a/../b"},
    {"type": "s3", "bucket": "customer-bucket", "role_arn": "arn:aws:iam::210987654321:role/exports"},  # not ferry-...
    {"type": "s3", "bucket": "customer-bucket", "role_arn": "arn:aws:iam::*:role/ferry-x"},
    {"type": "s3", "role_arn": "arn:aws:iam::210987654321:role/ferry-exports"},  # a role is for the tenant's own bucket
    {"type": "webdav", "host": "h"},
])
def test_bad_configs_are_refused(config):
    with pytest.raises(ValidationError):
        CONFIGS.validate_python(config)


def test_secrets_must_fit_their_destination_and_never_show():
    sftp = SftpConfig(host="h", username="u", host_key_fingerprint=FINGERPRINT)
    ftp = FtpConfig(type="ftp", host="h", username="u")

    DestinationSecrets(private_key=_pem(KEYS["ed25519"], "openssh")).check_for(sftp)
    DestinationSecrets(password="p").check_for(ftp)
    for secrets, config in [(DestinationSecrets(), sftp), (DestinationSecrets(), ftp), (DestinationSecrets(password="p"), S3Config())]:
        with pytest.raises(ValueError):
            secrets.check_for(config)
    with pytest.raises(DestinationFailed) as failed:
        open_destination(ftp, DestinationSecrets(), _no_s3, resolve_unvetted)
    assert failed.value.step == "auth"

    with pytest.raises(ValidationError) as refused:
        DestinationSecrets(private_key="not a key but maybe a password")
    assert "maybe a password" not in str(refused.value)
    assert PASSWORD not in repr(DestinationSecrets(password=PASSWORD))


def test_sftp_connects_to_the_addresses_the_resolver_vetted_never_resolving_again(sftp_server, folder):
    # A name that resolves nowhere: were the adapter to resolve it itself (after the vetting), it would fail.
    config = _sftp_config(sftp_server, folder, host="ferry-rebinding.invalid")
    seen: list[tuple[str, int]] = []

    def vetted(host: str, port: int) -> list[tuple[str, int]]:
        seen.append((host, port))
        return [("127.0.0.1", port)]

    SftpDestination(config, DestinationSecrets(password=PASSWORD), vetted).check()
    assert seen == [("ferry-rebinding.invalid", sftp_server.port)]
    refused = SftpDestination(config, DestinationSecrets(password=PASSWORD), lambda host, port: [])
    with pytest.raises(DestinationFailed) as failed:
        refused.check()
    assert failed.value.step == "connect"


class _LoopbackServer:
    """Accepts connections on 127.0.0.1 and holds each one while `converse` talks on it."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(conn)
            threading.Thread(target=self.converse, args=(conn,), daemon=True).start()

    def converse(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._listener.close()
        for conn in self._held:
            conn.close()


class _ScriptedFtp(_LoopbackServer):
    """An FTP server that greets, then answers each command as asked after `delay` seconds; with
    `silent_after_login`, logs anyone in and never answers again (a hung server); never answers `silent_at`."""

    _REPLIES = {b"USER": b"331 password please", b"PASS": b"230 logged in", b"TYPE": b"200 binary", b"CWD": b"250 here"}

    def __init__(self, *, delay: float = 0.0, silent_after_login: bool = False, silent_at: bytes | None = None) -> None:
        self._delay, self._silent_after_login, self._silent_at = delay, silent_after_login, silent_at
        super().__init__()

    def converse(self, conn: socket.socket) -> None:
        import time

        conn.sendall(b"220 ready\r\n")
        for line in conn.makefile("rb"):
            command = line.split()[0].upper() if line.split() else b""
            if (self._silent_after_login and command not in (b"USER", b"PASS")) or command == self._silent_at:
                continue  # read and never answered
            time.sleep(self._delay)
            try:
                conn.sendall(self._REPLIES.get(command, b"502 not here") + b"\r\n")
            except OSError:
                return


@pytest.mark.parametrize(("silent_at", "step", "reason"), [
    (b"PASS", "auth", "did not answer the login: timed out."),
    (b"CWD", "permission", "did not answer entering the folder /: timed out."),
])
def test_a_server_silent_at_one_step_fails_the_check_at_that_step(silent_at, step, reason):
    from ferry.destinations.port import Timeouts

    server = _ScriptedFtp(silent_at=silent_at)
    config = TypeAdapter(DestinationConfig).validate_python({"type": "ftp", "host": "127.0.0.1", "port": server.port, "username": "alice"})
    try:
        with pytest.raises(DestinationFailed) as failed:
            open_destination(config, DestinationSecrets(password=PASSWORD), _no_s3, resolve_unvetted, Timeouts(connect_s=1.0, operation_s=1.0)).check()
    finally:
        server.close()
    assert (failed.value.step, failed.value.reason) == (step, f"127.0.0.1:{server.port} {reason}")


def test_a_check_of_a_server_that_hangs_answers_within_the_api_request_naming_the_step():
    from ferry.destinations.catalogue import Destinations
    from ferry.destinations.port import CHECK_STEP_S, CHECK_WITHIN_S, TRANSFER_TIMEOUTS
    from ferry.testing import InMemorySavedItems, InMemorySecrets, StillClock

    server = _ScriptedFtp(silent_after_login=True)
    used = []

    def opener(tenant, config, secrets, timeouts):
        used.append(timeouts)
        return open_destination(config, secrets, _no_s3, resolve_unvetted, timeouts)

    destinations = Destinations(InMemorySavedItems(), InMemorySecrets(), opener, StillClock())
    try:
        made = destinations.create("acme", {"name": "hung", "type": "ftp", "host": "127.0.0.1", "port": server.port, "username": "alice", "password": PASSWORD})
        assert destinations.check("acme", made["id"]) == {"ok": False, "step": "connect", "reason": "127.0.0.1:%d refused to set up the session: timed out." % server.port}
        destinations.open("acme", made["id"])
    finally:
        server.close()
    # A check waits seconds for each step and ends within the API request's 29 s; an export's upload keeps its patience.
    check, upload = used
    assert (check.connect_s, check.operation_s) == (CHECK_STEP_S, CHECK_STEP_S) and check.until is not None
    assert CHECK_WITHIN_S + 2 * CHECK_STEP_S < 29 < TRANSFER_TIMEOUTS.operation_s and upload == TRANSFER_TIMEOUTS


def _stalled_on_the_first_session(monkeypatch, client_class: type, method: str) -> None:
    """`method` of the first session's client times out, then again and again; other sessions' work."""
    stuck: list[object] = []
    real = getattr(client_class, method)

    def stalled(client, *args):
        if not stuck or stuck[0] is client:
            stuck[:1] = [client]
            raise TimeoutError("timed out")
        return real(client, *args)

    monkeypatch.setattr(client_class, method, stalled)


@pytest.mark.parametrize("protocol", ["sftp", "ftp"])
def test_a_check_whose_session_stalls_at_the_remove_removes_its_probe_over_a_fresh_one(protocol, sftp_server, ftp_server, folder, monkeypatch):
    from ferry.destinations import ftp as ftp_adapter, sftp as sftp_adapter

    secrets = DestinationSecrets(password=PASSWORD)
    if protocol == "sftp":
        _stalled_on_the_first_session(monkeypatch, sftp_adapter._SftpClient, "remove")
        destination = SftpDestination(_sftp_config(sftp_server, folder), secrets, resolve_unvetted)
    else:
        _stalled_on_the_first_session(monkeypatch, ftp_adapter._Ftp, "delete")
        config = FtpConfig(type="ftp", host="127.0.0.1", port=ftp_server.port, username="alice", folder=f"/{folder.name}")
        destination = FtpDestination(config, secrets, resolve_unvetted)
    with pytest.raises(DestinationFailed) as failed:
        destination.check()
    assert failed.value.step == "write" and failed.value.reason.endswith("timed out."), failed.value.reason
    assert _listing(folder) == []  # no probe left behind


class _StalledSsh(_LoopbackServer):
    """Sends `greeting` (nothing, or an SSH banner) on each connection, then never another byte."""

    def __init__(self, greeting: bytes) -> None:
        self._greeting = greeting
        super().__init__()

    def converse(self, conn: socket.socket) -> None:
        conn.sendall(self._greeting)


@pytest.mark.parametrize("greeting", [b"", b"SSH-2.0-OpenSSH_9.6\r\n"], ids=["no-banner", "banner-then-silence"])
def test_an_ssh_handshake_that_never_completes_fails_the_check_at_connect(greeting):
    from ferry.destinations.port import Timeouts

    server = _StalledSsh(greeting)
    config = SftpConfig(host="127.0.0.1", port=server.port, username="alice", host_key_fingerprint=FINGERPRINT)
    try:
        with pytest.raises(DestinationFailed) as failed:
            open_destination(config, DestinationSecrets(password=PASSWORD), _no_s3, resolve_unvetted, Timeouts(connect_s=1.0, operation_s=1.0)).check()
    finally:
        server.close()
    assert (failed.value.step, failed.value.reason) == ("connect", f"127.0.0.1:{server.port} did not complete an SSH handshake: timed out.")


class _NoSftpSubsystem(_LoopbackServer):
    """A real SSH server (paramiko's) that logs anyone in with the password, then never answers the request
    for the sftp subsystem."""

    def __init__(self) -> None:
        from ferry.destinations.sftp import load_private_key

        self.host_key = load_private_key(_pem(KEYS["ed25519"], "openssh"))
        self.released = threading.Event()
        super().__init__()

    def converse(self, conn: socket.socket) -> None:
        import paramiko

        server = self

        class Interface(paramiko.ServerInterface):
            def check_auth_password(self, username, password):
                return paramiko.AUTH_SUCCESSFUL if password == PASSWORD else paramiko.AUTH_FAILED

            def get_allowed_auths(self, username):
                return "password"

            def check_channel_request(self, kind, chanid):
                return paramiko.OPEN_SUCCEEDED

            def check_channel_subsystem_request(self, channel, name):
                server.released.wait(30)  # the answer never comes while the client waits
                return False

        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        transport.start_server(server=Interface())

    def close(self) -> None:
        self.released.set()
        super().close()


def test_an_sftp_server_that_never_starts_the_subsystem_fails_at_connect_within_the_timeout():
    import time

    from ferry.destinations.port import Timeouts
    from ferry.destinations.sftp import fingerprint

    server = _NoSftpSubsystem()
    config = SftpConfig(host="127.0.0.1", port=server.port, username="alice", host_key_fingerprint=fingerprint(server.host_key))
    started = time.monotonic()
    try:
        with pytest.raises(DestinationFailed) as failed:
            open_destination(config, DestinationSecrets(password=PASSWORD), _no_s3, resolve_unvetted, Timeouts(connect_s=1.0, operation_s=1.0)).check()
    finally:
        server.close()
    assert (failed.value.step, failed.value.reason) == ("connect", f"127.0.0.1:{server.port} did not open an SFTP session: timed out.")
    assert time.monotonic() - started < 5  # paramiko alone would wait for ever


def _silent_address() -> tuple[socket.socket, list[socket.socket], tuple[str, int]]:
    """An address whose connects get no answer (a full accept queue drops them), as a firewalled host's."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    queued = [socket.create_connection(listener.getsockname(), timeout=1)]
    return listener, queued, listener.getsockname()


def test_a_check_of_a_host_whose_many_addresses_keep_silent_ends_by_its_deadline_at_connect():
    import time

    from ferry.destinations.port import Timeouts

    listener, queued, address = _silent_address()
    config = SftpConfig(host="many.example", port=address[1], username="alice", host_key_fingerprint=FINGERPRINT)
    eight_addresses = lambda host, port: [address] * 8  # noqa: E731
    started = time.monotonic()
    try:
        # 1 s per connect would take 8 s over the eight; the whole is bounded by 2.
        timeouts = Timeouts(connect_s=1.0, operation_s=1.0, until=started + 2.0)
        with pytest.raises(DestinationFailed) as failed:
            open_destination(config, DestinationSecrets(password=PASSWORD), _no_s3, eight_addresses, timeouts).check()
    finally:
        listener.close()
        for conn in queued:
            conn.close()
    assert failed.value.step == "connect" and "timed out" in failed.value.reason
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize(
    ("delay", "within", "step", "failed_at"),
    [
        # Each answer within the 1 s a command may take: the session's third command would be answered at 1.8 s.
        (0.6, 1.5, "connect", "refused to set up the session: timed out."),
        # USER is answered at 0.8 s; PASS, within its own 1 s, would be at 1.6 s: the step it is at is the login.
        (0.8, 1.2, "auth", "did not answer the login: timed out."),
    ],
    ids=["session-commands", "login"],
)
def test_a_check_of_a_server_answering_each_command_just_in_time_ends_by_its_deadline(delay, within, step, failed_at):
    import time

    from ferry.destinations.port import Timeouts

    server = _ScriptedFtp(delay=delay)
    config = TypeAdapter(DestinationConfig).validate_python({"type": "ftp", "host": "127.0.0.1", "port": server.port, "username": "alice"})
    started = time.monotonic()
    try:
        timeouts = Timeouts(connect_s=1.0, operation_s=1.0, until=started + within)
        with pytest.raises(DestinationFailed) as failed:
            open_destination(config, DestinationSecrets(password=PASSWORD), _no_s3, resolve_unvetted, timeouts).check()
    finally:
        server.close()
    assert failed.value.step == step and failed.value.reason.endswith(failed_at), failed.value.reason
    assert time.monotonic() - started < within + 0.3
