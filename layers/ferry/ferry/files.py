"""The files port: job inputs, chunks, error reports and results. One adapter: S3."""
from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import ClientError


class FileStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None: ...

    def get(self, key: str) -> bytes: ...

    def download_url(self, key: str, filename: str, expires_seconds: int = 300) -> str: ...


class FileMissing(Exception):
    pass


class S3FileStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise FileMissing(key) from exc
            raise

    def download_url(self, key: str, filename: str, expires_seconds: int = 300) -> str:
        return self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_seconds,
        )
