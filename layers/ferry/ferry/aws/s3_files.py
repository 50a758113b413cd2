"""The FileStore port on S3: job inputs, chunks, error reports, results, client uploads."""
from __future__ import annotations

from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from ferry.jobs.ports import FileMissing

_MISSING = ("NoSuchKey", "404", "NotFound")


class S3Files:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def put_stream(self, key: str, stream: BinaryIO, content_type: str = "application/octet-stream") -> None:
        # boto3's managed transfer: multipart for large files, never the whole file in memory.
        self._s3.upload_fileobj(stream, self._bucket, key, ExtraArgs={"ContentType": content_type})

    def get(self, key: str) -> bytes:
        return self.open(key).read()

    def open(self, key: str) -> BinaryIO:
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _MISSING:
                raise FileMissing(key) from exc
            raise

    def size(self, key: str) -> int | None:
        try:
            return int(self._s3.head_object(Bucket=self._bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _MISSING:
                return None
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

    def upload_url(self, key: str, content_type: str, expires_seconds: int) -> str:
        return self._s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self._bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_seconds,
        )
