"""Human-readable numbers per clinic: PAT-2026-00001, RX-2026-00001, SESS-2026000001."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, col, func, select


def next_number(
    session: Session, *, column: Any, clinic_column: Any, clinic_id: uuid.UUID, prefix: str,
    digits: int,
) -> str:  # fmt: skip
    """The clinic's next number after the highest one with ``prefix`` (zero-padded, so the
    text maximum is the numeric one). A concurrent writer can pick the same: the unique
    constraint on the column refuses the second, which retries."""
    last = session.exec(
        select(func.max(column)).where(clinic_column == clinic_id, col(column).startswith(prefix))
    ).first()
    tail = last[len(prefix) :] if last else ""
    number = int(tail) + 1 if tail.isdigit() else 1
    return f"{prefix}{number:0{digits}d}"
