"""A pooled Redis connection is checked from its buffers, not by a zero-timeout socket read.

redis-py 7 (the newest Reflex 0.10 allows) reads the socket before handing out each pooled
connection, one more turn of the event loop per command; ``reflex_hooks`` installs redis-py
8.1's check instead. What the check is for must still hold: a connection with an unread reply
or a closed socket is never handed out, so no command ever reads another command's reply.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis._parsers.hiredis import _AsyncHiredisParser

from clinic_app.api.reflex_hooks import install_reflex_hooks
from tests.async_run import run_async


def _client(redis_url: str) -> aioredis.Redis:
    install_reflex_hooks()
    return aioredis.Redis.from_url(redis_url, max_connections=1)


def test_a_clean_pooled_connection_is_handed_out_without_reading_the_socket(
    redis_url: str, monkeypatch
) -> None:
    """Each GET reads the socket once, for its reply: the readiness check itself reads nothing."""
    reads: list[int] = []
    read_reply = _AsyncHiredisParser.read_from_socket

    async def counted(self: _AsyncHiredisParser) -> bool:
        reads.append(1)
        return await read_reply(self)

    async def run() -> list[bytes | None]:
        client = _client(redis_url)
        try:
            await client.set("clinic:test:pool", "1")  # one connection, now back in the pool
            monkeypatch.setattr(_AsyncHiredisParser, "read_from_socket", counted)
            return [await client.get("clinic:test:pool") for _ in range(3)]
        finally:
            monkeypatch.undo()
            await client.aclose()

    assert run_async(run()) == [b"1", b"1", b"1"]
    assert len(reads) == 3


def test_a_connection_holding_an_unread_reply_is_replaced_not_reused(redis_url: str) -> None:
    async def run() -> tuple[bytes | None, int]:
        client = _client(redis_url)
        try:
            await client.set("clinic:test:pool", "mine")
            pool = client.connection_pool
            connection = await pool.get_connection()
            await connection.send_command("ECHO", "stale reply")  # its reply is never read
            for _ in range(50):  # until the reply has reached the connection's stream
                await asyncio.sleep(0.01)
                if connection._reader and connection._reader._buffer:  # type: ignore[attr-defined]
                    break
            await pool.release(connection)
            value = await client.get("clinic:test:pool")
            return value, len(pool._available_connections) + len(pool._in_use_connections)
        finally:
            await client.aclose()

    value, connections = run_async(run())
    assert value == b"mine"  # not b"stale reply": the dirty connection was reconnected
    assert connections == 1


def test_a_connection_the_server_closed_is_reconnected(redis_url: str) -> None:
    async def run() -> bytes | None:
        client = _client(redis_url)
        try:
            await client.set("clinic:test:pool", "after")
            admin = aioredis.Redis.from_url(redis_url)
            await admin.client_kill_filter(_id=await client.client_id())
            await admin.aclose()
            await asyncio.sleep(0.05)  # the close reaches the pooled connection's stream
            return await client.get("clinic:test:pool")
        finally:
            await client.aclose()

    assert run_async(run()) == b"after"
