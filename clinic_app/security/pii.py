"""Patient data at rest: AES-GCM encryption with rotating keys, and keyed search hashes.

A stored value is ``<key id>:<base64(nonce + ciphertext)>``; the key id picks the key that
decrypts it, so keys rotate (``clinic rekey`` re-encrypts every value with the current key).
Search works on HMAC-SHA256 "blind indexes" of normalised values (``blind``), computed with a
separate index key that does not rotate with the encryption keys.

Keys come from Settings (``CLINIC_PII_KEYS``, ``CLINIC_PII_INDEX_KEY``); with none set they are
derived from the installation's secret key. Backups never contain them: keep the secret key
(or these settings) somewhere safe, separately from the backups.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import re
import unicodedata
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from clinic_app.errors import ConfigError
from clinic_app.settings import get_settings

AAD = b"clinic-pii-v1"


class DecryptionError(Exception):
    """A stored value cannot be decrypted with the configured keys (wrong or missing key)."""


@dataclass(frozen=True, eq=False)
class KeyRing:
    current: str
    keys: dict[str, bytes]
    index_key: bytes

    @functools.cached_property
    def ciphers(self) -> dict[str, AESGCM]:
        """One AES-GCM object per key (building one per value cost more than the cipher)."""
        return {key_id: AESGCM(key) for key_id, key in self.keys.items()}


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


@functools.cache
def key_ring() -> KeyRing:
    """The keys from Settings (cached; ``clear_key_cache`` after changing settings)."""
    settings = get_settings()
    secret = settings.effective_secret_key()
    keys: dict[str, bytes] = {}
    current = ""
    for item in [part.strip() for part in settings.pii_keys.split(",") if part.strip()]:
        key_id, _, encoded = item.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,16}", key_id) or len(key) != 32:
            raise ConfigError(
                "CLINIC_PII_KEYS: each key is `id:base64-of-32-random-bytes`, e.g. "
                "`k1:$(head -c 32 /dev/urandom | base64)`"
            )
        keys[key_id] = key
        current = current or key_id
    # The key derived from the secret key is "k0": the default, and always able to decrypt what
    # was written before keys were configured (rotate away from it with `clinic rekey`).
    keys.setdefault("k0", _derive(secret, b"clinic-pii-encryption"))
    current = current or "k0"
    index_key = (
        _derive(settings.pii_index_key, b"clinic-pii-index")
        if settings.pii_index_key
        else _derive(secret, b"clinic-pii-index")
    )
    return KeyRing(current=current, keys=keys, index_key=index_key)


def clear_key_cache() -> None:
    key_ring.cache_clear()


def encrypt(text: str) -> str:
    ring = key_ring()
    nonce = os.urandom(12)
    sealed = ring.ciphers[ring.current].encrypt(nonce, text.encode("utf-8"), AAD)
    return f"{ring.current}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def decrypt(stored: str) -> str:
    """The plaintext of one stored value; each distinct ciphertext is decrypted once per key ring.

    A calendar week or a patient list shows the same names again and again. Every encryption
    uses a fresh nonce, so a ciphertext stands for one value under one key. The cache belongs to
    the key ring: new keys (``clear_key_cache``) start it afresh. Failures raise, uncached.
    """
    return _decrypt(key_ring(), stored)


@functools.lru_cache(maxsize=65536)
def _decrypt(ring: KeyRing, stored: str) -> str:
    key_id, _, encoded = stored.partition(":")
    cipher = ring.ciphers.get(key_id)
    if cipher is None:
        raise DecryptionError(f"no key {key_id!r} configured for stored patient data")
    try:
        raw = base64.b64decode(encoded, validate=True)
        return cipher.decrypt(raw[:12], raw[12:], AAD).decode("utf-8")
    except Exception as exc:  # noqa: BLE001 - any failure means the same: unreadable
        raise DecryptionError(f"stored patient data does not decrypt with key {key_id!r}") from exc


def key_id_of(stored: str | None) -> str | None:
    return stored.partition(":")[0] if stored else None


def blind(kind: str, value: str) -> str:
    """The keyed hash of one normalised search term (128 bits, hex)."""
    digest = hmac.new(key_ring().index_key, f"{kind}\x00{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def name_tokens(text: str) -> list[str]:
    """Lower-case, accent-free word tokens: "José  García-Núñez" → ["jose", "garcia", "nunez"]."""
    folded = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return [token for token in re.split(r"[^a-z0-9]+", plain) if token]


def phone_digits(text: str) -> str:
    return "".join(ch for ch in (text or "") if ch.isdigit())


PHONE_TAIL = 7
"""Phones are indexed by their last 7 digits (country codes and trunk prefixes vary)."""
