"""Argon2id password hashing and the password policy (length + a bundled common-password list)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from clinic_app.errors import AppError

MIN_LENGTH = 12
MAX_LENGTH = 1024
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; False for a wrong password or a missing/garbled hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _common() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and line[0] != "#")


def password_problem(password: str) -> str | None:
    """Why ``password`` is not allowed (None when it is): length and common passwords only.

    No composition rules (NIST SP 800-63B): a long passphrase beats "Pa$$w0rd1".
    """
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters (a few words make a good passphrase)."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    base = re.sub(r"[\d\W_]+$", "", lowered)  # "Password2026!!" -> "password"
    if lowered in _common() or base in _common() or len(set(lowered)) <= 2:
        return "This password is too common. Choose something harder to guess."
    return None


def check_password_policy(password: str) -> None:
    problem = password_problem(password)
    if problem is not None:
        raise AppError("WEAK_PASSWORD", problem)
