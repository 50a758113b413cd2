"""The FTP and FTPS destination, on ftplib.

FTPS is explicit TLS (AUTH TLS on the control port, then PROT P: files travel encrypted
too). The server's certificate is checked before the password is sent: against the
public authorities and the host name, or, where the config pins a certificate (FTPS
servers often have a self-signed one), against that pin only. Each call opens its own
connection and closes it, like the SFTP destination.
"""
from __future__ import annotations

import ftplib
import hashlib
import io
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from ferry.destinations.port import (
    PROBE,
    TRANSFER_TIMEOUTS,
    Delivery,
    DestinationFailed,
    DestinationSecrets,
    FtpConfig,
    Resolver,
    Timeouts,
    check_name,
    probe_name,
    remote_location,
    temporary_name,
)

_CHUNK = 1024 * 1024
# Reply codes of a STOR, RNTO or DELE that mean "not here, not by you" rather than a
# failure of the transfer itself (452 no space, 426 transfer aborted, ...).
_REFUSED = ("550", "553", "532", "450")
# Replies of a server that does not know a command (MLST is RFC 3659's, not every server's).
_UNKNOWN_COMMAND = ("500", "501", "502", "504")
_ERRORS = (ftplib.Error, OSError, EOFError)


def _certificate_fingerprint(der: bytes | None) -> str:
    digest = hashlib.sha256(der or b"").hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def _why(exc: BaseException) -> str:
    """The server's reply or the OS error in a few words, never a trace."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or "certificate not trusted"
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


class _Ftp(ftplib.FTP):
    """ftplib's client, but each command's answer (and its data connection) gets what `timeouts` say then:
    `connect()` while logging in, `operation()` once the session is set up; so a check's end by its `until`."""

    timeouts: Timeouts | None = None
    set_up = False

    def putcmd(self, line: str) -> None:
        if self.timeouts is not None:
            # ftplib's timeout for the data connections, and the control connection's for this answer.
            self.timeout = self.timeouts.operation() if self.set_up else self.timeouts.connect()
            self.sock.settimeout(self.timeout)
        super().putcmd(line)


class _PinnedFtpTls(_Ftp, ftplib.FTP_TLS):
    """FTP_TLS that checks each TLS connection's certificate against a pin and resumes the TLS session on data connections.

    Many FTPS servers (vsftpd's require_ssl_reuse, FileZilla Server) refuse a data
    connection that does not resume the control connection's TLS session, and ftplib does
    not resume it. The pin is checked on the data connections too: an unauthenticated
    data connection would hand the file to whoever answers the passive port.
    """

    def __init__(self, context: ssl.SSLContext, pin: str | None, timeout: float) -> None:
        super().__init__(context=context, timeout=timeout)
        self._pin = pin

    def check_pin(self, conn: ssl.SSLSocket) -> None:
        if self._pin is None:
            return
        found = _certificate_fingerprint(conn.getpeercert(binary_form=True))
        if found != self._pin:
            raise DestinationFailed(
                "host_key",
                f"The server at {self.host}:{self.port} presented the certificate {found}, "
                f"not the configured {self._pin}; nothing was sent to it.",
            )

    def ntransfercmd(self, cmd: str, rest: Any = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            try:
                conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
                self.check_pin(conn)
            except BaseException:
                conn.close()
                raise
        return conn, size


class FtpDestination:
    def __init__(self, config: FtpConfig, secrets: DestinationSecrets, resolve: Resolver, timeouts: Timeouts = TRANSFER_TIMEOUTS) -> None:
        self._config = config
        self._secrets = secrets
        self._resolve = resolve
        self._timeouts = timeouts

    def put(self, name: str, stream: BinaryIO) -> Delivery:
        check_name(name)
        with self._session() as ftp:
            temporary = temporary_name()
            try:
                self._store(ftp, temporary, stream)
                # Read under the temporary name, which is this put's alone: a rename keeps both.
                version = self._version(ftp, temporary) or ""
                self._rename(ftp, temporary, name)
            except BaseException:
                self._discard_or_retry(ftp, temporary)
                raise
        return Delivery(remote_location(self._config.type, self._config.host, self._config.port, self._config.folder, name), version)

    def remove(self, name: str, version: str) -> bool:
        check_name(name)
        with self._session() as ftp:
            found = self._version(ftp, name)
            if found is None:
                return True
            if not version or found != version:
                return False
            self._delete(ftp, name)
        return True

    def check(self) -> None:
        with self._session() as ftp:
            probe = probe_name()
            try:
                self._store(ftp, probe, io.BytesIO(PROBE))
                self._delete(ftp, probe)
            except BaseException:
                self._discard_or_retry(ftp, probe)
                raise

    # -- a session -----------------------------------------------------------------

    def _where(self) -> str:
        return f"{self._config.host}:{self._config.port}"

    def _client(self) -> _Ftp:
        if self._config.type == "ftp":
            client = _Ftp(timeout=self._timeouts.connect())
        else:
            context = ssl.create_default_context()
            if self._config.certificate_fingerprint is not None:
                # The pin replaces the authorities and the host name: it names the one certificate to accept.
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            client = _PinnedFtpTls(context, self._config.certificate_fingerprint, self._timeouts.connect())
        client.timeouts = self._timeouts
        return client

    @contextmanager
    def _session(self) -> Iterator[ftplib.FTP]:
        ftp = self._client()
        try:
            self._connect(ftp)
            if isinstance(ftp, _PinnedFtpTls):
                self._secure(ftp)
            self._login(ftp)
            try:
                if isinstance(ftp, ftplib.FTP_TLS):
                    ftp.prot_p()
                ftp.set_up = True
                ftp.set_pasv(self._config.passive)
                ftp.voidcmd("TYPE I")  # binary: the bytes as they are, and SIZE answers
            except _ERRORS as exc:
                raise DestinationFailed("connect", f"{self._where()} refused to set up the session: {_why(exc)}.") from None
            try:
                ftp.cwd(self._config.folder)
            except ftplib.error_perm as exc:
                raise DestinationFailed("permission", f"The folder {self._config.folder} does not exist on {self._where()} or cannot be entered: {_why(exc)}.") from None
            except (socket.timeout, TimeoutError):
                raise DestinationFailed("permission", f"{self._where()} did not answer entering the folder {self._config.folder}: timed out.") from None
            except _ERRORS as exc:
                raise DestinationFailed("connect", f"{self._where()} broke off: {_why(exc)}.") from None
            yield ftp
            try:
                ftp.quit()
            except _ERRORS:
                pass  # the work is done; a server that hangs up without a goodbye changes nothing
        finally:
            ftp.close()

    def _connect(self, ftp: ftplib.FTP) -> None:
        failure: BaseException | None = None
        for host, port in self._resolve(self._config.host, self._config.port):
            try:
                ftp.connect(host, port, timeout=self._timeouts.connect())
            except _ERRORS as exc:
                failure = exc
                continue
            ftp.host = self._config.host  # the name TLS checks the certificate against, not the address
            return
        raise DestinationFailed("connect", f"Could not connect to {self._where()}: {_why(failure) if failure else 'no address'}.")

    def _secure(self, ftp: _PinnedFtpTls) -> None:
        try:
            ftp.auth()
        except ssl.SSLCertVerificationError as exc:
            raise DestinationFailed("host_key", f"The certificate of {self._where()} is not trusted: {_why(exc)}; nothing was sent to it.") from None
        except ftplib.error_perm as exc:
            raise DestinationFailed("connect", f"{self._where()} does not offer TLS (AUTH TLS refused: {_why(exc)}).") from None
        except _ERRORS as exc:
            raise DestinationFailed("connect", f"The TLS handshake with {self._where()} failed: {_why(exc)}.") from None
        ftp.check_pin(ftp.sock)

    def _login(self, ftp: ftplib.FTP) -> None:
        assert self._secrets.password is not None  # open_destination checked it
        try:
            ftp.login(self._config.username, self._secrets.password.get_secret_value())
        except ftplib.error_perm:
            raise DestinationFailed("auth", f"The server at {self._where()} refused the login of {self._config.username!r}.") from None
        except (socket.timeout, TimeoutError):
            # Silent at the login: the step it is at (what it would have answered, nobody knows).
            raise DestinationFailed("auth", f"{self._where()} did not answer the login: timed out.") from None
        except _ERRORS as exc:
            raise DestinationFailed("connect", f"{self._where()} broke off the login: {_why(exc)}.") from None

    # -- files ---------------------------------------------------------------------

    def _store(self, ftp: ftplib.FTP, name: str, stream: BinaryIO) -> None:
        folder = self._config.folder
        try:
            conn, _ = ftp.ntransfercmd(f"STOR {name}")
        except ftplib.error_perm as exc:
            raise DestinationFailed("permission", f"{self._where()} refused to create a file in {folder}: {_why(exc)}.") from None
        except _ERRORS as exc:
            raise DestinationFailed("write", f"Writing to {folder} on {self._where()} failed: {_why(exc)}.") from None
        try:
            with conn:
                # The source's own errors (stream.read) pass through as they are: they are not the destination's.
                while chunk := stream.read(_CHUNK):
                    self._send(conn.sendall, chunk)
                if isinstance(conn, ssl.SSLSocket):
                    # A clean TLS close tells the server the file ended here, not that the connection broke.
                    self._send(conn.unwrap)
        except BaseException:
            # The server answers the broken transfer on the control connection; read it so DELE can follow.
            try:
                ftp.getresp()
            except _ERRORS:
                pass
            raise
        try:
            ftp.voidresp()
        except _ERRORS as exc:
            step = "permission" if str(exc)[:3] in _REFUSED else "write"
            raise DestinationFailed(step, f"Writing to {folder} on {self._where()} failed: {_why(exc)}.") from None

    def _send(self, call: Callable[..., object], *args: object) -> None:
        try:
            call(*args)
        except _ERRORS as exc:
            raise DestinationFailed("write", f"Writing to {self._config.folder} on {self._where()} failed: {_why(exc)}.") from None

    def _rename(self, ftp: ftplib.FTP, source: str, target: str) -> None:
        try:
            ftp.rename(source, target)
            return
        except ftplib.error_perm as exc:
            refused = exc
        except _ERRORS as exc:
            raise DestinationFailed("write", f"{self._where()} failed to rename the written file into place: {_why(exc)}.") from None
        # Some servers (IIS among them) refuse to rename onto an existing file: the old file
        # goes first. A reader may find no file for a moment, never half a one.
        try:
            ftp.delete(target)
            ftp.rename(source, target)
        except _ERRORS:
            raise DestinationFailed("permission", f"{self._where()} refused to rename the written file into place in {self._config.folder}: {_why(refused)}.") from None

    def _delete(self, ftp: ftplib.FTP, name: str) -> None:
        try:
            ftp.delete(name)
        except ftplib.error_perm as exc:
            if self._missing(ftp, name):
                return
            raise DestinationFailed("permission", f"{self._where()} refused to remove {name} from {self._config.folder}: {_why(exc)}.") from None
        except _ERRORS as exc:
            raise DestinationFailed("write", f"Removing {name} from {self._config.folder} on {self._where()} failed: {_why(exc)}.") from None

    def _missing(self, ftp: ftplib.FTP, name: str) -> bool:
        # FTP answers 550 both for "no such file" and for "not allowed". MLST (RFC 3659) asks about the one file
        # over the control connection; only a server without it is asked for the folder's listing, which needs
        # a data connection of its own (over TLS, one more handshake that can break).
        try:
            ftp.sendcmd(f"MLST {name}")
            return False
        except ftplib.error_perm as exc:
            if not str(exc).startswith(_UNKNOWN_COMMAND):
                return True
        except _ERRORS:
            return False
        try:
            return name not in {entry.rsplit("/", 1)[-1] for entry in ftp.nlst()}
        except ftplib.error_perm:
            return True  # some servers answer an empty folder's NLST with 550
        except _ERRORS:
            return False

    def _version(self, ftp: ftplib.FTP, name: str) -> str | None:
        """The file's size and modification time (SIZE, MDTM), None when it is not there, "" when the server
        will not say. FTP shows no inode or checksum: a file written over it in the same second with the same
        size is not told apart."""
        try:
            size = ftp.size(name)
            modified = ftp.sendcmd(f"MDTM {name}")
        except ftplib.error_perm:
            return None if self._missing(ftp, name) else ""
        except _ERRORS as exc:
            raise DestinationFailed("write", f"Reading the size of {name} in {self._config.folder} on {self._where()} failed: {_why(exc)}.") from None
        return f"{size}:{modified.removeprefix('213').strip()}"

    def _discard_or_retry(self, ftp: ftplib.FTP, name: str) -> None:
        """Best effort: the failure that brought us here is the one to report. A control connection that timed
        out is out of step with the server (a late answer would be read as the next one's): a fresh one removes it."""
        if self._discard(ftp, name):
            return
        try:
            with self._session() as fresh:
                self._discard(fresh, name)
        except DestinationFailed:
            pass

    def _discard(self, ftp: ftplib.FTP, name: str) -> bool:
        """Whether the file is gone (removed, or not there)."""
        try:
            ftp.delete(name)
        except ftplib.error_perm:
            return self._missing(ftp, name)
        except _ERRORS:
            return False
        return True
