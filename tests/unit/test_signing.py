"""Signed link tokens: genuine ones round-trip; anything altered, misused or old is refused."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest

from clinic_app.errors import AppError
from clinic_app.security import signing
from tests.conftest import clear_app_caches

PAYLOAD = {"file_id": "5b8f6c1e-0000-4000-8000-000000000001", "n": 3, "tags": ["a", "é"]}


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CLINIC_SECRET_KEY", "unit-test-secret-key-" + "x" * 32)
    monkeypatch.setenv("CLINIC_DATA_DIR", str(tmp_path / "var"))
    clear_app_caches()
    yield
    clear_app_caches()


def _flip(token: str, index: int) -> str:
    """Change one base64 character at ``index`` (not the last, whose low bits are padding)."""
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


def _code(purpose: str, token: str) -> str:
    with pytest.raises(AppError) as info:
        signing.verify(purpose, token)
    return info.value.code


def test_round_trip() -> None:
    token = signing.sign("file-download", PAYLOAD, 60)
    assert signing.verify("file-download", token) == PAYLOAD
    assert all(ch.isalnum() or ch in "-_." for ch in token)  # safe in a query string as is


def test_tampered_payload_is_invalid() -> None:
    token = signing.sign("file-download", PAYLOAD, 60)
    body, signature = token.split(".")
    envelope = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    envelope["d"]["file_id"] = "5b8f6c1e-0000-4000-8000-000000000002"
    forged = base64.urlsafe_b64encode(json.dumps(envelope).encode()).rstrip(b"=").decode()
    assert _code("file-download", f"{forged}.{signature}") == "LINK_INVALID"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: _flip(t, -5),  # signature changed
        lambda t: _flip(t, 3),  # body changed
        lambda t: t + "!",  # junk the lenient base64 decoder would have skipped
        lambda t: t.replace(".", ""),  # no separator
        lambda t: t.split(".")[0] + ".",  # no signature
        lambda t: "." + t.split(".")[1],  # no body
        lambda t: "",
        lambda t: t + "é",
        lambda t: t + "A" * 5000,
    ],
)
def test_malformed_or_altered_tokens_are_invalid(mangle) -> None:  # type: ignore[no-untyped-def]
    token = signing.sign("file-download", PAYLOAD, 60)
    assert _code("file-download", mangle(token)) == "LINK_INVALID"


def test_wrong_purpose_is_invalid() -> None:
    token = signing.sign("file-download", PAYLOAD, 60)
    assert _code("portal-login", token) == "LINK_INVALID"


def test_other_secret_key_is_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    token = signing.sign("file-download", PAYLOAD, 60)
    monkeypatch.setenv("CLINIC_SECRET_KEY", "a-different-installation-key-" + "y" * 32)
    clear_app_caches()
    assert _code("file-download", token) == "LINK_INVALID"


def test_expired_token(monkeypatch: pytest.MonkeyPatch) -> None:
    start = time.time()
    monkeypatch.setattr(signing, "_now", lambda: start)
    token = signing.sign("file-download", PAYLOAD, 300)
    monkeypatch.setattr(signing, "_now", lambda: start + 298)
    assert signing.verify("file-download", token) == PAYLOAD
    monkeypatch.setattr(signing, "_now", lambda: start + 300)
    assert _code("file-download", token) == "LINK_EXPIRED"


def test_expired_but_tampered_is_invalid_not_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signature is judged first: an attacker learns nothing from the expiry check."""
    token = signing.sign("file-download", PAYLOAD, 10)
    monkeypatch.setattr(signing, "_now", lambda: time.time() + 3600)
    assert _code("file-download", _flip(token, -5)) == "LINK_INVALID"


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError):
        signing.sign("file-download", PAYLOAD, 0)
