"""A real S3 wire endpoint for tests: moto's HTTP server on loopback, driven by boto3 over HTTP."""

from __future__ import annotations

import socket
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"


def free_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[ThreadedMotoServer, str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def create_bucket(endpoint: str) -> str:
    """A fresh bucket per test, so tests sharing the server never see each other's objects."""
    name = f"clinic-test-{uuid.uuid4().hex[:12]}"
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=name)
    return name


def use_s3(monkeypatch: pytest.MonkeyPatch, endpoint: str, bucket: str) -> None:
    """Switch the app's Settings to the S3 backend at ``endpoint`` (caches cleared by caller)."""
    monkeypatch.setenv("CLINIC_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("CLINIC_S3_BUCKET", bucket)
    monkeypatch.setenv("CLINIC_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("CLINIC_S3_REGION", REGION)
    monkeypatch.setenv("CLINIC_S3_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("CLINIC_S3_SECRET_ACCESS_KEY", SECRET_KEY)
