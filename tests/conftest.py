"""Shared fixtures: real SQLite and PostgreSQL databases, real Redis, isolated data dirs.

An unreachable PostgreSQL or Redis fails the run with instructions; nothing is skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis import Redis
from sqlmodel import Session, SQLModel

from clinic_app import migrations
from clinic_app.db import make_engine

PG_HOST = os.environ.get("CLINIC_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_URL = f"postgresql+psycopg://postgres@{PG_HOST}:5432/postgres"
TEST_REDIS_URL = os.environ.get("CLINIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
START_PG = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


def _fail_service(name: str, how: str, exc: Exception) -> None:
    pytest.fail(f"{name} is not reachable ({exc}). Start it with: {how}", pytrace=False)


def clear_app_caches() -> None:
    """Forget cached settings/engines/clients so a test's environment takes effect."""
    from clinic_app import db, redis_conn, settings
    from clinic_app.security import pii

    for cached in (settings.get_settings, db.get_engine, redis_conn.get_redis, pii.key_ring):
        cached.cache_clear()
    try:
        from clinic_app import storage

        storage.get_storage.cache_clear()
    except (ImportError, AttributeError):
        pass


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL, migrated to head, dropped at the end."""
    name = f"clinic_test_{os.getpid()}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        _fail_service("PostgreSQL", START_PG, exc)
    url = f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}"
    migrations.upgrade_head(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'clinic.db'}"
    migrations.upgrade_head(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses a database runs once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


_engines: dict[str, sa.Engine] = {}


def engine_for(url: str) -> sa.Engine:
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine_for(db_url).connect()
    transaction = connection.begin()
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield db_session
    finally:
        db_session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The local Redis (a test-only database number), emptied before and after."""
    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except Exception as exc:  # noqa: BLE001 - any failure means the service is unusable
        _fail_service("Redis", START_REDIS, exc)
    yield TEST_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def app_on_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app's own Redis clients point at the test Redis for this test, and only this test."""
    monkeypatch.setenv("CLINIC_REDIS_URL", redis_url)
    clear_app_caches()
    yield redis_url
    clear_app_caches()


async def until_subscribed(channel: str) -> None:
    """Wait until someone has subscribed to ``channel`` (a fixed sleep was too short on CI)."""
    import asyncio
    import time

    client = Redis.from_url(os.environ.get("CLINIC_REDIS_URL", TEST_REDIS_URL))
    deadline = time.monotonic() + 10
    try:
        while dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) < 1:
            assert time.monotonic() < deadline, f"nobody subscribed to {channel}"
            await asyncio.sleep(0.05)
    finally:
        client.close()


def _truncate_all(url: str) -> None:
    engine = engine_for(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # TRUNCATE: audit_events refuses DELETE (append-only trigger).
            names = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(SQLModel.metadata.sorted_tables):
                conn.execute(table.delete())
    migrations.load_reference_data(url)  # the starter catalog, as after ``upgrade_head``


@pytest.fixture
def app_env(
    db_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Point the app's one Settings at a test database, Redis and data dir (committed data).

    For code that opens its own ``session_scope`` (workers, HTTP routes). Tables are emptied
    afterwards. Yields the database URL.
    """
    monkeypatch.setenv("CLINIC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CLINIC_DATABASE_URL", db_url)
    monkeypatch.setenv("CLINIC_REDIS_URL", redis_url)
    monkeypatch.setenv("CLINIC_RQ_QUEUE", f"test-{uuid.uuid4().hex[:8]}")
    clear_app_caches()
    _truncate_all(db_url)
    try:
        yield db_url
    finally:
        from clinic_app.db import get_engine

        get_engine().dispose()
        clear_app_caches()
        _truncate_all(db_url)
