"""Short-lived signed tokens for links (downloads, …) that must work without a session lookup.

A token is ``<body>.<mac>``: ``body`` is urlsafe base64 (no padding) of JSON holding the purpose,
the expiry (Unix seconds) and the payload; ``mac`` is HMAC-SHA256 over the purpose and ``body``
with the installation's secret key. Tokens are signed, not encrypted: never put secrets in them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from clinic_app.errors import AppError
from clinic_app.settings import get_settings

_DOMAIN = b"clinic-app/signed-token/v1"
_MAX_TOKEN_LENGTH = 4096


def _now() -> float:
    """The clock, as a function so tests can move it."""
    return time.time()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict decoding: any character outside the urlsafe alphabet is an error, not skipped."""
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)


def _mac(purpose: str, body: str) -> bytes:
    # The purpose is part of the MAC, so a token made for one use never verifies for another.
    key = get_settings().effective_secret_key().encode("utf-8")
    message = b"\x00".join((_DOMAIN, purpose.encode("utf-8"), body.encode("ascii")))
    return hmac.new(key, message, hashlib.sha256).digest()


def _invalid() -> AppError:
    return AppError("LINK_INVALID", "This link is not valid. Open the item again from the app.")


def sign(purpose: str, payload: dict[str, Any], ttl_seconds: int) -> str:
    """A token carrying ``payload`` (JSON-serialisable), accepted by ``verify`` for the TTL."""
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    envelope = {"p": purpose, "exp": int(_now()) + ttl_seconds, "d": payload}
    body = _b64encode(json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{body}.{_b64encode(_mac(purpose, body))}"


def verify(purpose: str, token: str) -> dict[str, Any]:
    """The payload of a genuine, unexpired token for ``purpose``.

    Raises ``AppError`` ``LINK_INVALID`` (malformed, tampered, other purpose or key) or
    ``LINK_EXPIRED`` (genuine but too old). The signature is checked before anything is parsed.
    """
    if not token or len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
        raise _invalid()
    body, separator, signature = token.partition(".")
    if not separator or not body or not signature:
        raise _invalid()
    try:
        given = _b64decode(signature)
    except (ValueError, binascii.Error):
        raise _invalid() from None
    if not hmac.compare_digest(given, _mac(purpose, body)):
        raise _invalid()
    try:
        envelope = json.loads(_b64decode(body))
    except (ValueError, binascii.Error):
        raise _invalid() from None
    if not isinstance(envelope, dict) or envelope.get("p") != purpose:
        raise _invalid()
    expires_at = envelope.get("exp")
    payload = envelope.get("d")
    if not isinstance(expires_at, int) or not isinstance(payload, dict):
        raise _invalid()
    if _now() >= expires_at:
        raise AppError(
            "LINK_EXPIRED", "This link has expired. Open the item again from the app for a new one."
        )
    return payload
