"""S3-compatible object storage (AWS, MinIO, moto, …) through boto3.

Every boto/botocore failure becomes an ``AppError`` with a stable code, so callers and HTTP routes
show a clear message instead of a stack trace: ``STORAGE_NOT_FOUND`` for a missing object and
``STORAGE_UNAVAILABLE`` for everything else (network, credentials, bucket, throttling).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from clinic_app.errors import AppError, ConfigError
from clinic_app.settings import Settings
from clinic_app.storage import STORAGE_UNAVAILABLE_MESSAGE, _safe_key, attachment_disposition

MAX_PRESIGN_SECONDS = 300
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def _reason(exc: Exception) -> str:
    """A short, safe description for logs and /health/ready (no URLs, keys or tracebacks)."""
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return "timed out"
    if isinstance(exc, EndpointConnectionError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            cause = cause.__cause__ or cause.__context__
        return "cannot connect"
    if isinstance(exc, NoCredentialsError):
        return "no credentials"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "") or "unknown")
        if code in {"404", "NoSuchBucket"}:
            return "bucket not found"
        if code in {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            return "access denied"
        return f"S3 error {code}"
    return type(exc).__name__


def _unavailable(exc: Exception) -> AppError:
    return AppError("STORAGE_UNAVAILABLE", STORAGE_UNAVAILABLE_MESSAGE, {"reason": _reason(exc)})


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Storage:
    """Objects in one bucket; keys are the same relative keys LocalStorage uses."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """A client from ``CLINIC_S3_*``; empty values fall back to boto3's own defaults/chain."""
        if not settings.s3_bucket:
            raise ConfigError("CLINIC_S3_BUCKET must be set when CLINIC_STORAGE_BACKEND=s3")
        config = Config(
            connect_timeout=5,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": 3},
            signature_version="s3v4",
            # Custom endpoints (MinIO, moto, IPs) rarely resolve bucket subdomains.
            s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
        )
        session = boto3.session.Session()
        client = session.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region or None,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key or None,
            config=config,
        )
        return cls(client, settings.s3_bucket)

    @contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Turn boto failures into AppErrors; a missing object is the only non-outage case."""
        try:
            yield
        except ClientError as exc:
            if key is not None and _error_code(exc) in _MISSING_CODES:
                raise AppError(
                    "STORAGE_NOT_FOUND", "The stored file is missing.", {"key": key}
                ) from exc
            raise _unavailable(exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(exc) from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        key = _safe_key(key)
        with self._errors():
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        key = _safe_key(key)
        with self._errors(key):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            body: bytes = response["Body"].read()
            return body

    def delete(self, key: str) -> None:
        key = _safe_key(key)
        with self._errors():
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, key: str) -> bool:
        key = _safe_key(key)
        try:
            with self._errors(key):
                self.client.head_object(Bucket=self.bucket, Key=key)
        except AppError as exc:
            if exc.code == "STORAGE_NOT_FOUND":
                return False
            raise
        return True

    def iter_keys(self) -> Iterator[str]:
        with self._errors():
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            for page in pages:
                for item in page.get("Contents", []):
                    yield str(item["Key"])

    def presigned_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str | None:
        """A GET URL that forces a download with the given name and type, valid ≤ 5 minutes."""
        key = _safe_key(key)
        seconds = max(1, min(expires_in, MAX_PRESIGN_SECONDS))
        with self._errors():
            url: str = self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": attachment_disposition(filename),
                    "ResponseContentType": content_type,
                },
                ExpiresIn=seconds,
                HttpMethod="GET",
            )
        return url

    def check(self) -> None:
        """One HEAD on the bucket: proves endpoint, credentials and bucket in one round trip."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc
