"""The S3 destination: an export's files under a prefix of a bucket, Ferry's own or the tenant's.

A PUT on S3 is atomic (a reader sees the old object or the whole new one), so unlike
SFTP and FTP there is no temporary name to rename: boto3's managed upload writes the key
itself, in parts for a large file, and abandons the parts if it fails.

Each put marks its object with a random token in its metadata, written with the object
itself: that token is the delivery's version. A remove reads the object's metadata and
deletes only if the token is still its own, on the condition that the ETag it read is
still the object's (If-Match), so an object written over it in between is not deleted.
"""
from __future__ import annotations

import io
import secrets
from typing import Any, BinaryIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError, NoCredentialsError

from ferry.destinations.port import PROBE, Delivery, DestinationFailed, Step, check_name, probe_name

_AUTH = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired"}
# The user metadata (x-amz-meta-ferry-delivery) holding the token of the put that wrote an object.
_TOKEN = "ferry-delivery"
_PERMISSION = {"AccessDenied", "NoSuchBucket", "AllAccessDisabled", "AccountProblem", "InvalidBucketName", "403", "404"}


class _Source(io.RawIOBase):
    """The stream as boto3 reads it, remembering an error of its own so it is not taken for S3's."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.failure: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except BaseException as exc:
            self.failure = exc
            raise


def s3_client_as_role(sts: Any, role_arn: str, external_id: str, session_name: str) -> Any:
    """An S3 client holding a tenant's own role's credentials: its bucket is written as that role, under its policy.

    Taking the role is the destination's login: a role that does not exist or does not trust
    Ferry with this ExternalId fails at "auth".
    """
    try:
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64], ExternalId=external_id)["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        detail = exc.response["Error"].get("Message", "") if isinstance(exc, ClientError) else type(exc).__name__
        raise DestinationFailed("auth", f"Ferry could not take the role {role_arn}: {detail}".rstrip(": ")) from None
    return boto3.client(
        "s3",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


class S3Destination:
    def __init__(self, s3_client: Any, bucket: str, prefix: str = "") -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._prefix = prefix.strip("/")

    def put(self, name: str, stream: BinaryIO) -> Delivery:
        key = self._key(check_name(name))
        source = _Source(stream)
        token = secrets.token_hex(16)
        try:
            self._s3.upload_fileobj(source, self._bucket, key, ExtraArgs={"Metadata": {_TOKEN: token}})
        except (ClientError, BotoCoreError) as exc:
            if source.failure is not None:
                raise source.failure from None
            raise self._failed(exc, f"Writing {key}") from None
        return Delivery(f"s3://{self._bucket}/{key}", token)

    def remove(self, name: str, version: str) -> bool:
        key = self._key(check_name(name))
        try:
            found = self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchKey"}:
                return True
            if code in {"403", "AccessDenied"}:
                return False  # a role that may write and delete but not read: it cannot tell whose object this is
            raise self._failed(exc, f"Reading {key}") from None
        except BotoCoreError as exc:
            raise self._failed(exc, f"Reading {key}") from None
        if not version or found.get("Metadata", {}).get(_TOKEN) != version:
            return False
        try:
            self._s3.delete_object(Bucket=self._bucket, Key=key, IfMatch=found["ETag"])
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"PreconditionFailed", "412"}:
                return False  # written over since it was read
            if code in {"404", "NoSuchKey"}:
                return True
            raise self._failed(exc, f"Removing {key}") from None
        except BotoCoreError as exc:
            raise self._failed(exc, f"Removing {key}") from None
        return True

    def check(self) -> None:
        key = self._key(probe_name())
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=PROBE)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed(exc, f"Writing {key}") from None
        try:
            self._s3.delete_object(Bucket=self._bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed(exc, f"Removing {key}") from None

    def _key(self, name: str) -> str:
        return f"{self._prefix}/{name}" if self._prefix else name

    def _failed(self, exc: Exception, what: str) -> DestinationFailed:
        step: Step
        if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
            step, why = "connect", "S3 could not be reached"
        elif isinstance(exc, NoCredentialsError):
            step, why = "auth", "no AWS credentials"
        elif isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            step = "auth" if code in _AUTH else "permission" if code in _PERMISSION else "write"
            why = "the bucket does not exist" if code in {"NoSuchBucket", "404"} else code or "refused"
        else:
            step, why = "write", type(exc).__name__
        return DestinationFailed(step, f"{what} in the bucket {self._bucket} failed: {why}.")
