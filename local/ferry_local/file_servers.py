"""Real SFTP and FTP(S) servers on loopback, for the tests and the local stack: no Docker, no root.

    with SftpServer(root, {"alice": "secret"}) as sftp:      # asyncssh, in a thread of this process
        SftpConfig(host="127.0.0.1", port=sftp.port, username="alice",
                   host_key_fingerprint=sftp.host_key_fingerprint, ...)
    with FtpServer(root, {"bob": "secret"}, tls=True) as ftp:  # pyftpdlib, explicit TLS (AUTH TLS)
        FtpConfig(type="ftps", host="127.0.0.1", port=ftp.port,
                  certificate_fingerprint=ftp.certificate_fingerprint, ...)

Each server makes its own host key or self-signed certificate, binds 127.0.0.1 on a free
port, serves `root` as "/" to every user, and stops when the block ends. Folders named in
`read_only` (relative to `root`) are refused for writing by the server itself, since a
chmod does not stop a server that runs as root (as CI does).
"""
from __future__ import annotations

import asyncio
import datetime
import hmac
import ipaddress
import logging
import tempfile
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import asyncssh
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
# pyftpdlib stands on asyncore and asynchat, deprecated in Python 3.11 (it brings their
# PyPI copies from 3.12 on): the warning says nothing the project can act on.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

HOST = "127.0.0.1"


class SftpServer:
    """An SFTP-only SSH server (asyncssh) on 127.0.0.1: password logins, and keys where `authorized_keys` names them.

    `authorized_keys` maps a user to public keys in OpenSSH form ("ssh-ed25519 AAAA..."),
    one a line. `host_key_types` are the host keys the server holds; `host_key_fingerprints`
    has each one's fingerprint, `host_key_fingerprint` the first's.
    """

    def __init__(
        self,
        root: Path,
        users: dict[str, str],
        authorized_keys: dict[str, str] | None = None,
        read_only: Iterable[str] = (),
        host_key_types: Iterable[str] = ("ssh-ed25519",),
    ) -> None:
        self.root = Path(root).resolve()
        self._users = dict(users)
        self._authorized = {user: asyncssh.import_authorized_keys(text) for user, text in (authorized_keys or {}).items()}
        self._read_only = tuple(str((self.root / folder).resolve()).encode() for folder in read_only)
        self._host_keys = [asyncssh.generate_private_key(kind) for kind in host_key_types]
        self.host_key_fingerprints = {key.get_algorithm(): key.get_fingerprint("sha256") for key in self._host_keys}
        self.host_key_fingerprint = self._host_keys[0].get_fingerprint("sha256")
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-server", daemon=True)
        self._acceptor: asyncssh.SSHAcceptor | None = None

    def __enter__(self) -> SftpServer:
        self._thread.start()
        self._acceptor = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        self.port = self._acceptor.get_port()
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._acceptor is not None
            self._acceptor.close()
            await self._acceptor.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> asyncssh.SSHAcceptor:
        users, authorized, root, read_only = self._users, self._authorized, self.root, self._read_only

        class Logins(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                self._conn = conn

            def begin_auth(self, username: str) -> bool:
                if username in authorized:
                    self._conn.set_authorized_keys(authorized[username])
                return True  # every user must log in

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                expected = users.get(username)
                return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

            def public_key_auth_supported(self) -> bool:
                return True

        class Files(asyncssh.SFTPServer):
            def __init__(self, chan: asyncssh.SSHServerChannel) -> None:
                super().__init__(chan, chroot=str(root).encode())

            def _refuse_in_read_only(self, *paths: bytes) -> None:
                for path in paths:
                    local = self.map_path(path)
                    if any(local == folder or local.startswith(folder + b"/") for folder in read_only):
                        raise asyncssh.SFTPPermissionDenied("read-only folder")

            def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
                if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_APPEND | asyncssh.FXF_TRUNC):
                    self._refuse_in_read_only(path)
                return super().open(path, pflags, attrs)

            def remove(self, path: bytes) -> Any:
                self._refuse_in_read_only(path)
                return super().remove(path)

            def rename(self, oldpath: bytes, newpath: bytes) -> Any:
                self._refuse_in_read_only(oldpath, newpath)
                return super().rename(oldpath, newpath)

            def posix_rename(self, oldpath: bytes, newpath: bytes) -> Any:
                self._refuse_in_read_only(oldpath, newpath)
                return super().posix_rename(oldpath, newpath)

        return await asyncssh.listen(
            HOST,
            0,
            server_host_keys=self._host_keys,
            server_factory=Logins,
            sftp_factory=Files,
            allow_scp=False,
            # A shell or exec request gets nothing: this server only speaks SFTP.
            process_factory=None,
        )


class FtpServer:
    """An FTP server (pyftpdlib) on 127.0.0.1; with `tls`, FTPS by AUTH TLS on a self-signed certificate.

    `certificate_fingerprint` is the certificate's SHA-256 as `openssl x509 -fingerprint
    -sha256` prints it; `certificate_pem` lets a client trust it instead.
    """

    def __init__(self, root: Path, users: dict[str, str], tls: bool = False, read_only: Iterable[str] = ()) -> None:
        self.root = Path(root).resolve()
        self.tls = tls
        authorizer = DummyAuthorizer()
        for user, password in users.items():
            # e: cd, l: list, r: read, a: append, d: delete, f: rename, m: mkdir, w: write
            authorizer.add_user(user, password, str(self.root), perm="elradfmw")
            for folder in read_only:
                authorizer.override_perm(user, str((self.root / folder).resolve()), "elr", recursive=True)
        attributes: dict[str, Any] = {
            "authorizer": authorizer,
            # pyftpdlib waits 3 s before answering a wrong password, against guessing; here it would only slow tests.
            "auth_failed_timeout": 0.05,
            "banner": "Ferry local FTP server",
        }
        self._keys: tempfile.TemporaryDirectory[str] | None = None
        if tls:
            self.certificate_pem, key_pem = self_signed_certificate()
            certificate = x509.load_pem_x509_certificate(self.certificate_pem)
            digest = certificate.fingerprint(hashes.SHA256()).hex().upper()
            self.certificate_fingerprint = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
            self._keys = tempfile.TemporaryDirectory(prefix="ferry-ftp-")
            certfile = Path(self._keys.name) / "server.pem"
            certfile.write_bytes(self.certificate_pem + key_pem)
            # As an FTPS server should: no login and no file in clear text.
            attributes.update(certfile=str(certfile), tls_control_required=True, tls_data_required=True)
        # A class of its own: pyftpdlib keeps the configuration (and the TLS context it builds) on the class.
        self._handler = type("Handler", (TLS_FTPHandler if tls else FTPHandler,), attributes)
        self.port = 0
        self._server: FTPServer | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ftp-server", daemon=True)

    def __enter__(self) -> FtpServer:
        # pyftpdlib logs every command at INFO and, finding no handler of its own, sets up
        # logging to stderr for the whole process; a handler here keeps it to warnings, passed on as usual.
        log = logging.getLogger("pyftpdlib")
        if not log.handlers:
            log.addHandler(logging.NullHandler())
        log.setLevel(logging.WARNING)
        # A loop of its own: pyftpdlib's default is one per process, and close_all() would close every server on it.
        self._server = FTPServer((HOST, 0), self._handler, ioloop=IOLoop())
        self.port = self._server.address[1]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._keys is not None:
            self._keys.cleanup()

    def _serve(self) -> None:
        assert self._server is not None
        # pyftpdlib's loop has no thread-safe stop: it turns in short rounds and checks the flag.
        try:
            while not self._stop.is_set():
                self._server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        finally:
            self._server.close_all()


def self_signed_certificate() -> tuple[bytes, bytes]:
    """A certificate for localhost and 127.0.0.1 that only its own key signed (PEM), and that key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem
