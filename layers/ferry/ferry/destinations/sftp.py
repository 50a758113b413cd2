"""The SFTP destination, on paramiko, with the server's host key pinned.

The server must present the host key whose SHA-256 fingerprint the config names: there is
no known_hosts and nothing is ever accepted on first sight, so a server that is not the
one the tenant named never sees the password. Each call opens its own connection and
closes it: an export puts one file, and a connection kept between calls would only be
one more thing to time out. It is a `Source` too: ImportFiles fetches the files a
tenant's settings name on it, through the same pinning and login.
"""
from __future__ import annotations

import base64
import errno
import hashlib
import io
import posixpath
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import paramiko
from paramiko.sftp import SFTP_OP_UNSUPPORTED
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ferry.destinations.port import (
    PROBE,
    TRANSFER_TIMEOUTS,
    Delivery,
    DestinationFailed,
    DestinationSecrets,
    Resolver,
    SftpConfig,
    Timeouts,
    check_name,
    check_path,
    probe_name,
    remote_location,
    temporary_name,
)

_CHUNK = 1024 * 1024
# Reads a fetch keeps in flight (32 KiB each), as paramiko's own `get` does: one at a time
# would wait a round trip for every 32 KiB, and this bounds what waits in memory.
_PREFETCH_REQUESTS = 64
# What a broken or refusing server raises through paramiko (OSError covers its IOError and socket.timeout).
_ERRORS = (OSError, paramiko.SSHException, EOFError)
# paramiko's AuthenticationException for a login the server left unanswered: no refusal, a silence.
_AUTH_TIMED_OUT = "Authentication timeout."

# A server may hold several host keys and paramiko asks for its favourite type first; the
# tenant pinned one of them, whichever `ssh-keygen -lf` showed. On a mismatch the next
# connection refuses the type just seen, until the pinned key shows or no type is left.
_HOST_KEY_FAMILIES = (
    ("ssh-ed25519",),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
    ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
)
_PARAMIKO_KEY_CLASSES = (
    (rsa.RSAPrivateKey, paramiko.RSAKey),
    (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
    (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
)


def fingerprint(key: paramiko.PKey) -> str:
    """A public key's fingerprint as `ssh-keygen -lf` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def load_private_key(pem: str) -> paramiko.PKey:
    """An unencrypted RSA, ECDSA or Ed25519 key, in OpenSSH, PEM or PKCS#8 form."""
    data = pem.encode()
    try:
        try:
            loaded = serialization.load_ssh_private_key(data, password=None)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise DestinationFailed("auth", "The private key is protected by a passphrase; Ferry needs it unencrypted.") from None
    except Exception:
        raise DestinationFailed("auth", "The private key could not be read: expected an RSA, ECDSA or Ed25519 key in PEM or OpenSSH format.") from None
    for crypto_class, paramiko_class in _PARAMIKO_KEY_CLASSES:
        if isinstance(loaded, crypto_class):
            # paramiko reads OpenSSH's format for every key type, PKCS#8 for none: hand it that.
            text = loaded.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            ).decode()
            return paramiko_class.from_private_key(io.StringIO(text))
    raise DestinationFailed("auth", "The private key is of a type SFTP servers do not take: use RSA, ECDSA or Ed25519.")


class _SftpClient(paramiko.SFTPClient):
    """paramiko's client, but an "operation unsupported" answer is an OSError with errno EOPNOTSUPP, and each
    answer is awaited for what `timeouts.operation()` says then (so a check's commands end by its `until`).

    paramiko gives that answer no errno, like a timeout or any other failure; only this answer means the
    server lacks an extension, and a timeout taken for it would start a fallback on a stuck session.
    """

    timeouts: Timeouts | None = None

    def _read_response(self, waitfor: int | None = None) -> Any:
        if self.timeouts is not None:
            self.sock.settimeout(self.timeouts.operation())
        return super()._read_response(waitfor)

    def _convert_status(self, msg: paramiko.Message) -> None:
        code, text = msg.get_int(), msg.get_text()
        if code == SFTP_OP_UNSUPPORTED:
            raise OSError(errno.EOPNOTSUPP, text)
        status = paramiko.Message()
        status.add_int(code)
        status.add_string(text)
        status.rewind()
        super()._convert_status(status)


class _Unanswered(DestinationFailed):
    """The server left a request unanswered past the timeout: its session is stuck behind it (servers answer in order)."""


def _why(exc: BaseException) -> str:
    """An OS or protocol error in a few words: the server's text, never a trace."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, EOFError):
        return "the server closed the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


class SftpDestination:
    def __init__(self, config: SftpConfig, secrets: DestinationSecrets, resolve: Resolver, timeouts: Timeouts = TRANSFER_TIMEOUTS) -> None:
        self._config = config
        self._secrets = secrets
        self._resolve = resolve
        self._timeouts = timeouts

    def put(self, name: str, stream: BinaryIO) -> Delivery:
        check_name(name)
        temporary = self._path(temporary_name())
        try:
            with self._session() as sftp:
                try:
                    self._write(sftp, temporary, stream)
                    # Read under the temporary name, which is this put's alone: a rename keeps both.
                    version = self._version(sftp, temporary) or ""
                    self._rename(sftp, temporary, self._path(name))
                except _Unanswered:
                    raise
                except BaseException:
                    self._discard_or_retry(sftp, temporary)
                    raise
        except _Unanswered:
            # A remove sent on the stuck session would wait behind the request the server never answered.
            self._discard_in_a_new_session(temporary)
            raise
        return Delivery(remote_location("sftp", self._config.host, self._config.port, self._config.folder, name), version)

    def remove(self, name: str, version: str) -> bool:
        check_name(name)
        path = self._path(name)
        with self._session() as sftp:
            found = self._version(sftp, path)
            if found is None:
                return True
            if not version or found != version:
                return False
            self._remove(sftp, path)
        return True

    def check(self) -> None:
        with self._session() as sftp:
            probe = self._path(probe_name())
            try:
                self._write(sftp, probe, io.BytesIO(PROBE))
                self._remove(sftp, probe)
            except BaseException:
                self._discard_or_retry(sftp, probe)
                raise

    def fetch(self, path: str, sink: BinaryIO) -> int:
        wanted = self._path(check_path(path))
        size = 0
        with self._session() as sftp:
            with self._open_to_read(sftp, wanted) as remote:
                # The sink's own errors (sink.write) pass through as they are: they are not the server's.
                while chunk := self._receive(remote, wanted):
                    sink.write(chunk)
                    size += len(chunk)
        return size

    # -- a session -----------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[paramiko.SFTPClient]:
        transport = self._logged_in()
        try:
            with self._sftp_client(transport) as sftp:
                yield sftp
        finally:
            transport.close()

    def _sftp_client(self, transport: paramiko.Transport) -> _SftpClient:
        """The SFTP subsystem on a new channel, within the connect timeout. paramiko's own waits take none (an
        hour for the channel, for ever for the subsystem), so a server that never starts it would hang the step:
        they run on a thread of their own, waited for that long; past it the transport is closed, which ends the
        thread's wait (a thread paramiko leaves waiting ends with the process)."""
        wait_s, operation_s = self._timeouts.connect(), self._timeouts.operation()
        opened: list[_SftpClient] = []
        failed: list[BaseException] = []

        def open_subsystem() -> None:
            try:
                channel = transport.open_session(timeout=wait_s)
                channel.settimeout(operation_s)  # the version exchange's reads
                channel.invoke_subsystem("sftp")
                opened.append(_SftpClient(channel))
            except BaseException as exc:  # handed to the caller's thread
                failed.append(exc)

        opener = threading.Thread(target=open_subsystem, name="ferry-sftp-subsystem", daemon=True)
        opener.start()
        opener.join(wait_s)
        if opener.is_alive():
            transport.close()
            raise DestinationFailed("connect", f"{self._where()} did not open an SFTP session: timed out.")
        if failed:
            if isinstance(failed[0], _ERRORS):
                raise DestinationFailed("connect", f"{self._where()} did not open an SFTP session: {_why(failed[0])}.") from None
            raise failed[0]
        sftp = opened[0]
        sftp.timeouts = self._timeouts
        return sftp

    def _where(self) -> str:
        return f"{self._config.host}:{self._config.port}"

    def _connect(self, addresses: list[tuple[str, int]]) -> socket.socket:
        failure: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection(address, timeout=self._timeouts.connect())
            except OSError as exc:
                failure = exc
        raise DestinationFailed("connect", f"Could not connect to {self._where()}: {_why(failure) if failure else 'no address'}.")

    def _pinned_transport(self, addresses: list[tuple[str, int]]) -> paramiko.Transport:
        pinned = self._config.host_key_fingerprint
        seen: list[str] = []
        disabled: list[str] = []
        for _ in _HOST_KEY_FAMILIES:
            transport = paramiko.Transport(self._connect(addresses), disabled_algorithms={"keys": disabled})
            handshake_s = self._timeouts.connect()
            # paramiko's own banner and handshake waits a little longer: start_client's timeout is the one that
            # ends a silent handshake (else either may, and the reason would depend on which came first).
            transport.banner_timeout = transport.handshake_timeout = handshake_s + 1
            try:
                transport.start_client(timeout=handshake_s)
                if not transport.initial_kex_done:
                    # start_client returns, raising nothing, when its timeout runs out mid-handshake.
                    raise TimeoutError("timed out")
            except _ERRORS as exc:
                transport.close()
                if seen:
                    # The server holds no host key of the types not yet refused.
                    break
                raise DestinationFailed("connect", f"{self._where()} did not complete an SSH handshake: {_why(exc)}.") from None
            key = transport.get_remote_server_key()
            if fingerprint(key) == pinned:
                return transport
            transport.close()
            seen.append(fingerprint(key))
            family = next((f for f in _HOST_KEY_FAMILIES if transport.host_key_type in f or key.get_name() in f), ())
            if not family or family[0] in disabled:
                break
            disabled.extend(family)
        raise DestinationFailed(
            "host_key",
            f"The server at {self._where()} presented the host key{'s' if len(seen) > 1 else ''} {', '.join(seen)}, "
            f"not the configured {pinned}; nothing was sent to it.",
        )

    def _logged_in(self) -> paramiko.Transport:
        username = self._config.username
        logins: list[tuple[str, Callable[[paramiko.Transport], object]]] = []
        if self._secrets.private_key is not None:
            key = load_private_key(self._secrets.private_key.get_secret_value())
            logins.append(("private key", lambda t: t.auth_publickey(username, key)))
        if self._secrets.password is not None:
            password = self._secrets.password.get_secret_value()
            logins.append(("password", lambda t: t.auth_password(username, password)))
        # Resolved and vetted once: every connection of the session goes to the same addresses.
        addresses = self._resolve(self._config.host, self._config.port)
        for _, login in logins:
            # A connection for each way of logging in: paramiko asks for the auth service
            # again at each attempt, and some servers (asyncssh) hang up on the second ask.
            transport = self._pinned_transport(addresses)
            transport.auth_timeout = self._timeouts.connect()  # what is left now, after the handshake
            try:
                login(transport)
                return transport
            except paramiko.AuthenticationException as exc:
                transport.close()
                if str(exc) == _AUTH_TIMED_OUT:
                    raise DestinationFailed("auth", f"{self._where()} did not answer the login: timed out.") from None
            except _ERRORS as exc:
                transport.close()
                raise DestinationFailed("connect", f"{self._where()} broke off the login: {_why(exc)}.") from None
        tried = " and ".join(label for label, _ in logins)
        raise DestinationFailed("auth", f"The server at {self._where()} refused the login of {username!r} ({tried}).")

    # -- files ---------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return posixpath.join(self._config.folder, name)

    def _write(self, sftp: paramiko.SFTPClient, path: str, stream: BinaryIO) -> None:
        folder = self._config.folder
        try:
            remote = sftp.open(path, "wb")
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise DestinationFailed("permission", f"The folder {folder} does not exist on {self._where()}.") from None
            raise DestinationFailed("permission", f"{self._where()} refused to create a file in {folder}: {_why(exc)}.") from None
        except (paramiko.SSHException, EOFError) as exc:
            raise DestinationFailed("write", f"Writing to {folder} on {self._where()} failed: {_why(exc)}.") from None
        # Pipelined: writes go out without waiting for each answer; an error shows at a later write or at close.
        remote.set_pipelined(True)
        try:
            # The source's own errors (stream.read) pass through as they are: they are not the destination's.
            while chunk := stream.read(_CHUNK):
                self._send(remote.write, chunk)
            self._send(remote.close)
        except BaseException:
            # Closed, so the server lets the file be removed.
            try:
                remote.close()
            except _ERRORS:
                pass
            raise

    def _open_to_read(self, sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPFile:
        try:
            remote = sftp.open(path, "rb")
            remote.prefetch(max_concurrent_requests=_PREFETCH_REQUESTS)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise DestinationFailed("permission", f"There is no file {path} on {self._where()}.") from None
            raise DestinationFailed("permission", f"{self._where()} refused to read {path}: {_why(exc)}.") from None
        except (paramiko.SSHException, EOFError) as exc:
            raise DestinationFailed("read", f"Reading {path} on {self._where()} failed: {_why(exc)}.") from None
        return remote

    def _receive(self, remote: paramiko.SFTPFile, path: str) -> bytes:
        try:
            return remote.read(_CHUNK)
        except _ERRORS as exc:
            step = "permission" if isinstance(exc, OSError) and exc.errno == errno.EACCES else "read"
            raise DestinationFailed(step, f"Reading {path} on {self._where()} failed: {_why(exc)}.") from None

    def _send(self, call: Callable[..., object], *args: object) -> None:
        try:
            call(*args)
        except _ERRORS as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EACCES:
                raise DestinationFailed("permission", f"{self._where()} refused to write in {self._config.folder}: {_why(exc)}.") from None
            raise DestinationFailed("write", f"Writing to {self._config.folder} on {self._where()} failed: {_why(exc)}.") from None

    def _rename(self, sftp: paramiko.SFTPClient, source: str, target: str) -> None:
        try:
            # OpenSSH's extension replaces the target in one step, as rename(2) does.
            sftp.posix_rename(source, target)
            return
        except OSError as exc:
            if exc.errno != errno.EOPNOTSUPP:
                raise self._rename_failed(exc) from None
        except (paramiko.SSHException, EOFError) as exc:
            raise self._rename_failed(exc) from None
        # The server answered that it lacks the extension; plain SFTP rename refuses to replace a
        # file, so the old file goes first. A reader may find no file for a moment, never half a one.
        try:
            self._remove(sftp, target)
            sftp.rename(source, target)
        except OSError as exc:
            raise self._rename_failed(exc) from None

    def _rename_failed(self, exc: BaseException) -> DestinationFailed:
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return self._unanswered("the rename of the written file into place")
        step = "permission" if isinstance(exc, OSError) and exc.errno == errno.EACCES else "write"
        return DestinationFailed(step, f"{self._where()} refused to rename the written file into place in {self._config.folder}: {_why(exc)}.")

    def _remove(self, sftp: paramiko.SFTPClient, path: str) -> None:
        try:
            sftp.remove(path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return
            step = "permission" if exc.errno == errno.EACCES else "write"
            raise DestinationFailed(step, f"{self._where()} refused to remove {posixpath.basename(path)} from {self._config.folder}: {_why(exc)}.") from None
        except (paramiko.SSHException, EOFError) as exc:
            raise DestinationFailed("write", f"Removing a file from {self._config.folder} on {self._where()} failed: {_why(exc)}.") from None

    def _version(self, sftp: paramiko.SFTPClient, path: str) -> str | None:
        """The file's size and modification time, None when it is not there. SFTP shows no inode or checksum:
        a file written over it in the same second with the same size is not told apart."""
        try:
            attributes = sftp.stat(path)
        except OSError as exc:
            if isinstance(exc, (socket.timeout, TimeoutError)):
                # As an unanswered rename: a put's clean-up must not queue behind this request.
                raise self._unanswered(f"a look at {posixpath.basename(path)}") from None
            if exc.errno == errno.ENOENT:
                return None
            step = "permission" if exc.errno == errno.EACCES else "write"
            raise DestinationFailed(step, f"{self._where()} refused to show {posixpath.basename(path)} in {self._config.folder}: {_why(exc)}.") from None
        except (paramiko.SSHException, EOFError) as exc:
            raise DestinationFailed("write", f"Reading a file's size in {self._config.folder} on {self._where()} failed: {_why(exc)}.") from None
        if attributes.st_size is None or attributes.st_mtime is None:
            return ""
        return f"{attributes.st_size}:{attributes.st_mtime}"

    def _unanswered(self, request: str) -> _Unanswered:
        return _Unanswered("write", f"{self._where()} did not answer {request} in {self._config.folder} within {self._timeouts.operation_s:g} s: timed out.")

    def _discard(self, sftp: paramiko.SFTPClient, path: str) -> bool:
        """Best effort: the failure that brought us here is the one to report. Whether the file is gone."""
        try:
            sftp.remove(path)
        except OSError as exc:
            return exc.errno == errno.ENOENT
        except _ERRORS:
            return False
        return True

    def _discard_or_retry(self, sftp: paramiko.SFTPClient, path: str) -> None:
        """Best effort, as `_discard`; a session stuck behind a request the server left unanswered (silent at the
        open, a write or the close) cannot remove it: a fresh one may."""
        if not self._discard(sftp, path):
            self._discard_in_a_new_session(path)

    def _discard_in_a_new_session(self, path: str) -> None:
        """Best effort, as `_discard`, over a connection of its own (as bounded by the timeouts as any)."""
        try:
            with self._session() as sftp:
                self._discard(sftp, path)
        except DestinationFailed:
            pass
