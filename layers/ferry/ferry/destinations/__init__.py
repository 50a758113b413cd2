"""Export destinations: where an export's files land (S3, SFTP, FTP or FTPS).

`port.py` holds the configs (stored and shown), the secrets (stored apart, never shown),
`DestinationFailed` and the `Destination` protocol; `sftp.py` and `ftp.py` are the
adapters for a customer's servers; the S3 adapter lives with the other AWS adapters
(`ferry/aws/s3_destination.py`), so this package never imports boto3. `open_destination`
takes the S3 side as a callable, which the wiring builds on its boto3 client and files
bucket; the SFTP and FTP adapters are imported only when a destination of theirs is
opened, so paramiko loads only in an export that goes to SFTP.
"""
from __future__ import annotations

from collections.abc import Callable

from ferry.destinations.port import (
    Delivery,
    Destination,
    DestinationConfig,
    DestinationFailed,
    DestinationSecrets,
    FtpConfig,
    Resolver,
    S3Config,
    SftpConfig,
    Timeouts,
    TRANSFER_TIMEOUTS,
)

__all__ = [
    "Delivery",
    "Destination",
    "DestinationConfig",
    "DestinationFailed",
    "DestinationSecrets",
    "FtpConfig",
    "Resolver",
    "S3Config",
    "SftpConfig",
    "open_destination",
]


def open_destination(
    config: S3Config | SftpConfig | FtpConfig,
    secrets: DestinationSecrets,
    s3_destination: Callable[[S3Config], Destination],
    resolve: Resolver,
    timeouts: Timeouts = TRANSFER_TIMEOUTS,
) -> Destination:
    """The destination `config` describes, logged in with `secrets`; nothing connects until it is used.

    `s3_destination` makes the S3 adapter for an S3Config: the caller knows the client and
    which bucket (and which tenant's prefix in it) `bucket=None` means.
    """
    try:
        secrets.check_for(config)
    except ValueError as exc:
        # Stored secrets that no longer fit their config (edited apart): the job fails at login.
        raise DestinationFailed("auth", f"The destination's credentials are incomplete: {exc}.") from None
    if isinstance(config, S3Config):
        return s3_destination(config)
    if isinstance(config, SftpConfig):
        from ferry.destinations.sftp import SftpDestination

        return SftpDestination(config, secrets, resolve, timeouts)
    from ferry.destinations.ftp import FtpDestination

    return FtpDestination(config, secrets, resolve, timeouts)
