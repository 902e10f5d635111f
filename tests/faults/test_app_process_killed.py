"""One of two app processes is killed while tabs are booking: they reconnect, nothing twice.

`clinic up --processes 2` on PostgreSQL behind nginx. Reception tabs (the load benchmark's
websocket client, signed in through the cookie route) book appointments in a loop; once about
one booking per tab is through, one backend's whole process group gets SIGKILL. Tabs on it lose
their socket, reconnect with their token and cookie through nginx to the other process and send
their last event again, as a browser does. Every tab finishes its bookings, and the database
holds each booking once: no idempotency key twice, and exactly as many appointments as the tabs
saw booked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.load import Results, Tab
from clinic_app.local_server import LocalServer, ServerStartError, local_server
from tests.async_run import run_async
from tests.conftest import PG_ADMIN_URL

TABS = 8
BOOKINGS_PER_TAB = 6


@pytest.fixture
def database_url() -> Iterator[str]:
    name = f"clinic_fault_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def _book_and_kill(server: LocalServer, results: Results) -> None:
    tabs = [Tab(server.url, results) for _ in range(TABS)]
    for tab in tabs:
        await tab.connect()
        await tab.sign_in("reception@demo.clinic")
        await tab.calendar()

    async def book(tab: Tab) -> None:
        for _ in range(BOOKINGS_PER_TAB):
            await tab.book()

    async def kill_one_backend() -> None:
        # Mid-run: once about one booking per tab is through, every tab still has several to go.
        while results.outcomes.get("booked", 0) + results.outcomes.get("refused", 0) < TABS:
            await asyncio.sleep(0.05)
        pid = int((server.data_dir / "run" / "app-1.pid").read_text())
        os.killpg(pid, signal.SIGKILL)

    try:
        await asyncio.gather(kill_one_backend(), *(book(tab) for tab in tabs))
    finally:
        for tab in tabs:
            await tab.client.disconnect()


def test_killing_one_of_two_app_processes_under_load(database_url: str, tmp_path: Path) -> None:
    results = Results()
    try:
        with local_server(
            tmp_path,
            args=["--processes", "2", "--workers", "1"],
            settings={"CLINIC_DATABASE_URL": database_url},
        ) as server:
            run_async(asyncio.wait_for(_book_and_kill(server, results), timeout=240))
            deadline = time.monotonic() + 60
            while "restarting app-1" not in server.log_tail(400) and time.monotonic() < deadline:
                time.sleep(0.5)  # the supervisor notices the death on its own schedule
            log = server.log_tail(400)
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)

    assert "restarting app-1" in log  # it really died (the supervisor brought it back)
    assert results.outcomes.get("reconnects", 0) >= 1, results.outcomes
    attempts = results.outcomes.get("booked", 0) + results.outcomes.get("refused", 0)
    assert attempts == TABS * BOOKINGS_PER_TAB, results.outcomes
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            twice = conn.execute(
                sa.text(
                    "SELECT idempotency_key FROM appointments WHERE idempotency_key IS NOT NULL"
                    " GROUP BY idempotency_key HAVING count(*) > 1"
                )
            ).all()
            booked = conn.execute(
                sa.text(
                    "SELECT count(*) FROM appointments WHERE booked_via = 'staff'"
                    " AND idempotency_key IS NOT NULL AND created_at > now() - interval '1 hour'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert twice == []
    assert booked == results.outcomes.get("booked", 0)
