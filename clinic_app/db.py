"""Database engine and the transaction boundary used by handlers, workers and the CLI."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


CLINIC_OPTION = "clinic_context"
"""Execution option: the clinic a PostgreSQL transaction works for (``clinic_bind``)."""
PING_AFTER_IDLE_S = 1.0


def _pg_connect(dbapi_connection: Any, _record: Any) -> None:
    # psycopg would send BEGIN on a round trip of its own before a transaction's first
    # statement; ``_pg_begin`` sends it together with the clinic context instead. psycopg's
    # commit and rollback still end the transaction (they look at the server's state).
    dbapi_connection.autocommit = True


def _pg_begin(connection: sa.Connection) -> None:
    """BEGIN and tell row-level security the transaction's clinic, in one round trip."""
    context = connection.get_execution_options().get(CLINIC_OPTION)
    if context is None:  # a bare engine (migrations, tools): no clinic, no rows under RLS
        connection.exec_driver_sql("BEGIN")
        return
    clinic = context if context == ALL_CLINICS else str(uuid.UUID(context))  # never user text
    connection.exec_driver_sql(f"BEGIN; SELECT set_config('app.clinic_id', '{clinic}', true)")


def _pg_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _pg_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that sat idle for a second or more before handing it out.

    A restarted server has closed every idle connection; the ping finds that and the pool
    opens a new one (``DisconnectionError``). A connection used within the last second skips
    the round trip, as HikariCP's alive-bypass window does: under load that is every checkout.
    """
    if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
    except Exception as exc:
        raise sa.exc.DisconnectionError() from exc


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
    engine = sa.create_engine(
        url,
        # Kept open for every thread that may hold one at once (clinic_app.threads, RQ, the
        # health check): a smaller pool opened and closed a connection many times a second
        # under load, each a new server process with cold caches (measured: 0.2 core).
        pool_size=12,
        max_overflow=10,
        connect_args={
            "connect_timeout": 5,  # a down server fails fast instead of hanging
            # Times come back in UTC whatever the server's zone; psycopg then gives them
            # ``datetime.timezone.utc``, which formats several times faster than a ZoneInfo.
            "options": "-c TimeZone=UTC",
        },
        hide_parameters=True,  # SQL errors must not carry PHI into logs
    )
    sa.event.listen(engine, "connect", _pg_connect)
    sa.event.listen(engine, "checkin", _pg_checkin)
    sa.event.listen(engine, "checkout", _pg_checkout)
    sa.event.listen(engine, "begin", _pg_begin)
    return engine


@functools.cache
def get_engine() -> Engine:
    return make_engine(get_settings().effective_database_url)


@functools.lru_cache(maxsize=4096)
def clinic_bind(engine: Engine, clinic_id: uuid.UUID | None, *, immediate: bool = False) -> Engine:
    """``engine`` for transactions of one clinic (``None``: installation-wide work such as
    sign-in lookups and workers, which row-level security then lets see every clinic).

    Kept per clinic: making the option engine costs more than a small query's Python side.
    """
    options: dict[str, Any] = {CLINIC_OPTION: str(clinic_id) if clinic_id else ALL_CLINICS}
    if immediate:
        options[IMMEDIATE_OPTION] = True
    return engine.execution_options(**options)


@contextmanager
def session_scope(
    *, clinic_id: uuid.UUID | None = None, immediate: bool = False
) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back on any error.

    ``immediate=True`` (bookings, moves) takes SQLite's write lock at BEGIN so a check for
    overlaps and the insert that follows are atomic; on PostgreSQL the option changes nothing
    (the exclusion constraint decides).
    """
    session = Session(
        clinic_bind(get_engine(), clinic_id, immediate=immediate), expire_on_commit=False
    )
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Row(NamedTuple):
    """One row to INSERT through Core: its table and its column values."""

    table: sa.Table
    values: dict[str, Any]


def insert_unless_conflict(session: Session, row: Row, *, then: Sequence[Row] = ()) -> bool:
    """INSERT ``row`` unless it breaks a unique or exclusion constraint; True when inserted.

    ``ON CONFLICT DO NOTHING`` keeps the transaction usable after a refused row (no savepoint,
    no error to catch): the caller decides what the refusal means. Other constraint errors
    (foreign keys, checks) still raise. The rows in ``then`` (its history and audit rows) go in
    only with ``row``; on PostgreSQL they ride in the same statement, which saves a booking
    two round trips.
    """
    table, values = row
    session.flush()
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        statement = _insert_unless_conflict(table, connection.dialect.name)
        if connection.execute(statement, values).first() is None:
            return False
        for follower in then:
            connection.execute(_plain_insert(follower.table), follower.values)
        return True
    # Only the columns with a value: the statement stays under psycopg's limits for caching
    # its parsed form (4096 bytes, 50 parameters), which otherwise costs more than the INSERT.
    rows = [row, *then]
    given = [
        {n: v for n, v in r.values.items() if v is not None or r.table.c[n].server_default}
        for r in rows
    ]
    shape = tuple((r.table, tuple(names)) for r, names in zip(rows, given, strict=True))
    params = {f"p{i}_{n}": v for i, names in enumerate(given) for n, v in names.items()}
    return connection.execute(_insert_with_followers(shape), params).first() is not None


@functools.cache
def _insert_unless_conflict(table: sa.Table, dialect: str) -> Any:
    # Built once per table: building ``.values(...)`` per row costs more than the INSERT.
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)


def insert_row(session: Session, row: Row) -> None:
    """INSERT one row through Core in the caller's transaction (history and audit rows, which
    are never read back in it, skip the ORM's unit of work)."""
    session.connection().execute(_plain_insert(row.table), row.values)


@functools.cache
def _plain_insert(table: sa.Table) -> Any:
    return sa.insert(table)


@functools.cache
def _insert_with_followers(shape: tuple[tuple[sa.Table, tuple[str, ...]], ...]) -> Any:
    """``WITH p0 AS (INSERT … ON CONFLICT DO NOTHING RETURNING pk), p1 AS (INSERT … SELECT …
    FROM p0) … SELECT pk FROM p0``: a follower gets a row only when ``p0`` inserted one. Built
    once per shape (tables and the columns given); parameters are ``p<n>_<column>``."""
    (table, names), *followers = shape
    main = (
        postgresql_insert(table)
        .values({n: sa.bindparam(f"p0_{n}", type_=table.c[n].type) for n in names})
        .on_conflict_do_nothing()
        .returning(*table.primary_key.columns)
        .cte("p0")
    )
    ctes = []
    for index, (follower, columns) in enumerate(followers, start=1):
        # Typed parameters: the dialect writes ``%(…)s::TYPE``, which the SELECT list needs.
        values = sa.select(
            *[sa.bindparam(f"p{index}_{n}", type_=follower.c[n].type) for n in columns]
        ).select_from(main)
        target = [follower.c[n] for n in columns]
        insert = sa.insert(follower).from_select(target, values, include_defaults=False)
        ctes.append(insert.cte(f"p{index}"))
    return sa.select(*main.c).add_cte(*ctes)


def rows(session: Session, statement: Any, params: dict[str, Any] | None = None) -> Sequence[Any]:
    """All rows of a column select, run through Core after flushing pending ORM changes.

    For hot reads of plain columns: no ORM identity map and no SQLModel overload limits (its
    ``exec`` types at most four columns).
    """
    session.flush()
    return session.connection().execute(statement, params or {}).all()
