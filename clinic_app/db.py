"""Database engine and the transaction boundary used by handlers, workers and the CLI."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

import clinic_app.services.patient_index  # noqa: F401  (keeps the blind index in step on every write)
from clinic_app.security.row_security import ALL_CLINICS
from clinic_app.settings import get_settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINTs (begin_nested); SQLAlchemy's
    # documented fix: let it do nothing and emit BEGIN ourselves in ``_sqlite_begin``.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


IMMEDIATE_OPTION = "clinic_sqlite_immediate"
"""Execution option: on SQLite, start the transaction with ``BEGIN IMMEDIATE`` (write lock)."""


def _sqlite_begin(connection: sa.Connection) -> None:
    if connection.get_execution_options().get(IMMEDIATE_OPTION):
        # Take SQLite's write lock up front: check-then-insert (a booking) is then serialised
        # with every other writer instead of failing or racing when it upgrades its lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and foreign keys so app and worker can share it."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            hide_parameters=True,  # SQL errors must not carry PHI into logs
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 5},  # a down server fails fast instead of hanging
        hide_parameters=True,  # SQL errors must not carry PHI into logs
    )


@functools.cache
def get_engine() -> Engine:
    return make_engine(get_settings().effective_database_url)


def set_clinic_context(session: Session, clinic_id: uuid.UUID | None) -> None:
    """Tell Postgres row-level security which clinic this transaction works for.

    ``None`` is installation-wide work (sign-in lookups, workers): the policies then allow every
    clinic (``clinic_app.security.row_security``).
    """
    if session.get_bind().dialect.name == "postgresql":
        value = str(clinic_id) if clinic_id is not None else ALL_CLINICS
        # Straight to the driver: every transaction runs this, so it skips SQL compilation.
        session.connection().exec_driver_sql(
            "SELECT set_config('app.clinic_id', %(cid)s, true)", {"cid": value}
        )


@contextmanager
def session_scope(
    *, clinic_id: uuid.UUID | None = None, immediate: bool = False
) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back on any error.

    ``immediate=True`` (bookings, moves) takes SQLite's write lock at BEGIN so a check for
    overlaps and the insert that follows are atomic; on PostgreSQL the option changes nothing
    (the exclusion constraint decides).
    """
    engine = get_engine()
    if immediate:
        engine = engine.execution_options(**{IMMEDIATE_OPTION: True})
    session = Session(engine, expire_on_commit=False)
    try:
        set_clinic_context(session, clinic_id)
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def rows(session: Session, statement: Any, params: dict[str, Any] | None = None) -> Sequence[Any]:
    """All rows of a column select, run through Core after flushing pending ORM changes.

    For hot reads of plain columns: no ORM identity map and no SQLModel overload limits (its
    ``exec`` types at most four columns).
    """
    session.flush()
    return session.connection().execute(statement, params or {}).all()
