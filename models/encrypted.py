"""Column types that encrypt on write and decrypt on read (``clinic_app.security.pii``).

Model attributes keep their plain types (``str``, ``date``, ``list``); only the database sees
ciphertext. Encrypted columns cannot be searched or sorted in SQL: search goes through the
blind-index table ``patient_search_terms``.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class EncryptedText(TypeDecorator[str]):
    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        from clinic_app.security import pii

        return None if value is None else pii.encrypt(str(value))

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        """Decrypt on read, without ``process_result_value``'s per-value call chain: calendars
        and lists read names by the hundred."""
        from clinic_app.security.pii import decrypt

        def process(value: str | None) -> str | None:
            return None if value is None else decrypt(value)

        return process


class EncryptedDate(TypeDecorator[date]):
    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: date | None, dialect: sa.Dialect) -> str | None:
        from clinic_app.security import pii

        return None if value is None else pii.encrypt(value.isoformat())

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> date | None:
        from clinic_app.security import pii

        return None if value is None else date.fromisoformat(pii.decrypt(value))


class EncryptedJSON(TypeDecorator[Any]):
    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        from clinic_app.security import pii

        return None if value is None else pii.encrypt(json.dumps(value, sort_keys=True))

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Any:
        from clinic_app.security import pii

        return None if value is None else json.loads(pii.decrypt(value))
