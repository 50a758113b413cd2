"""Where an export lands: the configs a tenant stores, the secrets kept apart from them, and the Destination port.

A config is the part of a destination that is stored with a job or a schedule and
shown back to the client; the secrets (a password, a private key) are stored apart and
never shown. `DestinationFailed` names the step that failed (dns, connect, host_key,
auth, permission, write, read) in words fit for a job's output: never a secret, never a
trace. A destination that files can also be taken from (SFTP, for ImportFiles) is a
`Source` as well.
"""
from __future__ import annotations

import ipaddress
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, BinaryIO, Literal, Protocol, runtime_checkable

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from ferry.core.lazy_model import LazyModel

# "read" is a Source's only: a fetch that broke off after the file was opened.
Step = Literal["dns", "connect", "host_key", "auth", "permission", "write", "read"]

# RFC 1123 host names; an IP literal is checked apart with ipaddress.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")
# What `ssh-keygen -lf` prints for a key: the unpadded base64 of a SHA-256 digest (32 bytes, 43 characters).
_SSH_FINGERPRINT = re.compile(r"SHA256:([A-Za-z0-9+/]{43})=?")
# What `openssl x509 -noout -fingerprint -sha256` prints after "=": 32 bytes in hex, colons optional.
_TLS_FINGERPRINT = re.compile(r"([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+ )?PRIVATE KEY-----.+-----END ([A-Z0-9 ]+ )?PRIVATE KEY-----", re.S)
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# A tenant's own IAM role, named ferry-...: Ferry's functions may take only roles so named (template.yaml).
_ROLE_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::\d{12}:role/ferry-[\w+=,.@-]{1,58}")


def role_external_id(tenant: str) -> str:
    """The ExternalId Ferry gives when it takes a tenant's role: that tenant's trust policy asks for it, so
    no other tenant of this deployment can have Ferry take the role (the confused-deputy guard)."""
    return f"ferry:{tenant}"


def _path_parts(value: str) -> list[str]:
    if _CONTROL.search(value) or "\\" in value:
        raise ValueError("must not hold control characters or backslashes")
    if ".." in value.split("/"):
        raise ValueError("must not hold '..'")
    # "/in//out/", "/in/./out" and "/in/out" are one folder.
    return [p for p in value.split("/") if p and p != "."]


class _Config(LazyModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class S3Config(_Config):
    type: Literal["s3"] = "s3"
    bucket: str | None = Field(default=None, description="None: Ferry's own files bucket")
    prefix: str = Field(default="", max_length=512, description="Files land at <prefix>/<name>")
    role_arn: str | None = Field(
        default=None,
        description="The tenant's own bucket is written as this IAM role of the tenant's account (named ferry-...), "
        "which trusts Ferry's account with the ExternalId a read of the destination shows",
    )

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_ARN.fullmatch(value):
            raise ValueError("must be an IAM role ARN whose role name starts with ferry- (arn:aws:iam::<account>:role/ferry-...)")
        return value

    @model_validator(mode="after")
    def _role_needs_a_bucket(self) -> S3Config:
        if self.role_arn is not None and self.bucket is None:
            raise ValueError("role_arn is for the tenant's own bucket: name the bucket too")
        return self

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and (not _S3_BUCKET.fullmatch(value) or ".." in value):
            raise ValueError("must be an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return "/".join(_path_parts(value))


class _Server(_Config):
    """What an SFTP or FTP server's config shares: where it is, whom to log in as, which folder to write to."""

    host: str = Field(max_length=253)
    username: str = Field(min_length=1, max_length=128)
    folder: str = Field(default="/", max_length=1024)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
        if not _HOST_NAME.fullmatch(value):
            raise ValueError("must be a host name or an IP address")
        return value.lower()

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("must not hold control characters")
        return value

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        parts = _path_parts(value)
        if value.startswith("/"):
            return "/" + "/".join(parts)
        # A relative folder is the login folder's, as the server sees it.
        return "/".join(parts) or "."


class SftpConfig(_Server):
    type: Literal["sftp"] = "sftp"
    port: int = Field(default=22, ge=1, le=65535)
    host_key_fingerprint: str = Field(
        description="The server's host key as `ssh-keygen -lf` prints it: SHA256:<base64>",
        examples=["SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"],
    )

    @field_validator("host_key_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str) -> str:
        match = _SSH_FINGERPRINT.fullmatch(value.strip())
        if not match:
            raise ValueError("must be a SHA-256 fingerprint as `ssh-keygen -lf` prints it: SHA256:<43 base64 characters>")
        return f"SHA256:{match.group(1)}"


class FtpConfig(_Server):
    type: Literal["ftp", "ftps"]
    port: int = Field(default=21, ge=1, le=65535)
    passive: bool = True
    # A server whose certificate no public authority signed (self-signed is common on
    # FTPS) is trusted by pinning its certificate instead; without a pin, ftps checks
    # the certificate against the public authorities and the host name.
    certificate_fingerprint: str | None = Field(
        default=None,
        description="ftps only: the server certificate's SHA-256 fingerprint as "
        "`openssl x509 -noout -fingerprint -sha256` prints it",
        examples=["AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"],
    )

    @field_validator("certificate_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _TLS_FINGERPRINT.fullmatch(value.strip()):
            raise ValueError("must be a SHA-256 fingerprint: 32 bytes in hex, e.g. AB:CD:...")
        digits = value.strip().replace(":", "").upper()
        return ":".join(digits[i : i + 2] for i in range(0, 64, 2))

    @model_validator(mode="after")
    def _pin_needs_tls(self) -> FtpConfig:
        if self.certificate_fingerprint is not None and self.type != "ftps":
            raise ValueError("certificate_fingerprint applies to ftps only")
        return self


DestinationConfig = Annotated[S3Config | SftpConfig | FtpConfig, Field(discriminator="type")]


class DestinationSecrets(LazyModel):
    """The secret part of a destination: stored apart from its config, never shown back."""

    # A refused value never reaches an error message or a log.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    password: SecretStr | None = Field(default=None, min_length=1, max_length=1024)
    private_key: SecretStr | None = Field(
        default=None, max_length=16384, description="An unencrypted private key, PEM or OpenSSH format"
    )

    @field_validator("private_key")
    @classmethod
    def _pem(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _PEM.search(value.get_secret_value()):
            raise ValueError("must be a private key in PEM or OpenSSH format (-----BEGIN ... PRIVATE KEY-----)")
        return value

    def check_for(self, config: S3Config | SftpConfig | FtpConfig) -> None:
        """Raises ValueError when these secrets cannot serve `config`; a request model's validator can call it."""
        if isinstance(config, S3Config):
            if self.password is not None or self.private_key is not None:
                raise ValueError("an s3 destination takes no password or private key: Ferry's own role writes it")
        elif isinstance(config, SftpConfig):
            if self.password is None and self.private_key is None:
                raise ValueError("an sftp destination needs a password or a private key")
        else:
            if self.password is None:
                raise ValueError(f"an {config.type} destination needs a password")
            if self.private_key is not None:
                raise ValueError(f"an {config.type} destination takes no private key")


# (host, port) -> the addresses to connect to, in order; raises DestinationFailed ("dns", "connect") when the
# name does not resolve or resolves where Ferry may not go. The adapters connect to exactly these addresses,
# so a name cannot resolve to a public address when vetted and to a private one when connected (DNS rebinding).
Resolver = Callable[[str, int], list[tuple[str, int]]]


@dataclass(frozen=True)
class Timeouts:
    """How long a server may keep silent before the step it is at fails; and, for a check, when the whole is over.

    Adapters set each timeout from `connect()` or `operation()`: the bound, or what is left
    before `until` when that is less, so that a server answering every step just in time, or
    a host with many addresses that all keep silent, still ends at the step it is at by then.
    """

    connect_s: float  # each of: the TCP connect, the TLS or SSH handshake, the login
    operation_s: float  # any one command, or one read or write of a transfer
    until: float | None = None  # time.monotonic() by which the whole use is over; None: no such bound

    def connect(self) -> float:
        return self._left(self.connect_s)

    def operation(self) -> float:
        return self._left(self.operation_s)

    def _left(self, bound: float) -> float:
        if self.until is None:
            return bound
        # Past `until`, a step still gets a moment (0 would make the socket non-blocking): it times out at once.
        return max(min(bound, self.until - time.monotonic()), _MOMENT_S)


_MOMENT_S = 0.01
# An export's upload, in the worker: a slow server may take its time over a large file.
TRANSFER_TIMEOUTS = Timeouts(connect_s=10.0, operation_s=60.0)
# A check answers an API request (API Gateway gives up at 30 s): a server silent for a few seconds fails the step
# it is at, and the whole is over within about CHECK_WITHIN_S (a wait already set, such as paramiko's for the login,
# may run a few seconds past it), so that the answer names the step instead of the request timing out.
CHECK_STEP_S = 4.0
CHECK_WITHIN_S = 15.0


def check_timeouts() -> Timeouts:
    """The timeouts of a check starting now."""
    return Timeouts(connect_s=CHECK_STEP_S, operation_s=CHECK_STEP_S, until=time.monotonic() + CHECK_WITHIN_S)


class DestinationFailed(Exception):
    """A destination refused or broke off; `reason` is fit for the job's output."""

    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    """What a put answers: where the file landed, and what tells that very file from one written over it later."""

    location: str  # as a URL: sftp://host:22/out/x.zip, s3://bucket/key
    # Opaque to the caller, kept with the job and handed back to `remove`; "" when the server could not say.
    version: str


class Destination(Protocol):
    def put(self, name: str, stream: BinaryIO) -> Delivery:
        """Writes `stream` as `name` in the destination's folder, replacing a file of that name, and says where.

        The bytes go to a temporary name of this put's own first and are renamed at the
        end, so a reader never sees half a file; on a failure that temporary file is
        removed (never another put's). A failure of the destination raises
        DestinationFailed; an exception raised by `stream` itself (the export's source) is
        raised as it is, after the same clean-up.
        """
        ...

    def remove(self, name: str, version: str) -> bool:
        """Removes `name` if it is still the file a put answered `version` for.

        Answers False, leaving it, when a file of that name is there that is not that one
        (another export has written it since) or cannot be told apart from it (version "");
        True when it was removed or was not there.
        """
        ...

    def check(self) -> None:
        """Connects, logs in, writes and removes a small probe file; raises DestinationFailed naming the step."""
        ...


# Only an SFTP destination reads files; the part that imports them tells it from the
# others by asking whether an opened destination is a Source.
@runtime_checkable
class Source(Protocol):
    def fetch(self, path: str, sink: BinaryIO) -> int:
        """Writes the file at `path` into `sink` as it arrives and answers its size in bytes.

        An absolute path is the server's; a relative one is in the destination's folder. A
        failure of the server (a file that is not there included) raises DestinationFailed;
        an exception raised by `sink` itself is raised as it is.
        """
        ...


def check_name(name: str) -> str:
    """A file name in the destination's folder: no folders, nothing a server would read as a path."""
    if not name or len(name) > 255 or name in {".", ".."} or "/" in name or "\\" in name or _CONTROL.search(name):
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def check_path(path: str) -> str:
    """A file's path on a server, normalised as a folder is: no '..', control characters or backslashes; not a folder."""
    parts = _path_parts(path)
    if not parts or path.split("/")[-1] in {"", "."}:
        raise ValueError("must name a file, not a folder")
    return ("/" if path.startswith("/") else "") + "/".join(parts)


def temporary_name() -> str:
    """Hidden and in the same folder: a rename within one folder is atomic, and readers that list "*.zip" or
    skip dot files never pick up a file being written. Random: two attempts of one delivery may run at once
    (a step retried while the first invocation still runs), and each must rename or remove only its own."""
    return f".ferry-{secrets.token_hex(8)}.part"


def probe_name() -> str:
    return f".ferry-check-{secrets.token_hex(8)}"


PROBE = b"Ferry checks that it can write here; this file is removed at once.\n"


def remote_location(scheme: str, host: str, port: int, folder: str, name: str) -> str:
    """Where a file landed, as a URL: sftp://host:22/out/x.zip; a folder relative to the login folder shows as /~/."""
    netloc = f"[{host}]" if ":" in host else host
    path = folder.rstrip("/") + "/" + name if folder.startswith("/") else "/~/" + (f"{folder}/" if folder != "." else "") + name
    return f"{scheme}://{netloc}:{port}{path}"
