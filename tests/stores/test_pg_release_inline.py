"""The PostgreSQL hot path returns a connection to its pool in place (issue 27): a statement
that succeeded on a clean connection starts no task (asyncpg's own ``Pool.release`` shields a
task per call, and the request waits a loop turn for it). A connection left in any other state
(an open transaction, listeners, closed) still goes through asyncpg's full release."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from session_service.stores.sql.postgres.driver import PgHotPath


def _counting_tasks(loop: asyncio.AbstractEventLoop) -> list[int]:
    made = [0]

    def factory(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
        made[0] += 1
        return asyncio.Task(coro, loop=loop)

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    return made


async def _statements_start_no_task(url: str) -> None:
    hot = PgHotPath(url, 2)
    try:
        assert await hot.fetchrow("SELECT 1") == (1,)  # the pool and its first connection
        made = _counting_tasks(asyncio.get_running_loop())
        for _ in range(5):
            assert await hot.fetchrow("SELECT $1::int", 7) == (7,)
            assert await hot.execute("SELECT 1") == 1
        assert made[0] == 0
        pool = hot._pool
        assert pool._queue.qsize() == 2  # every holder back in the pool, ready
        conn = await pool.acquire()  # and usable again
        assert await conn.fetchval("SELECT 2") == 2
        await pool.release(conn)
    finally:
        await hot.close()


def test_a_statement_returns_its_connection_without_a_task(pg_db_url: str) -> None:
    asyncio.run(_statements_start_no_task(pg_db_url))


async def _open_transaction_is_rolled_back(url: str) -> None:
    hot = PgHotPath(url, 1)
    try:
        # A transaction left open by the work (never on the hot path itself): the full
        # release rolls it back before the connection serves anyone else.
        async def leave_open(conn: Any, unnamed: bool, deadline: float) -> None:
            await conn.execute("BEGIN")

        await hot._on_conn(leave_open)
        conn = await hot._pool.acquire()
        try:
            assert not conn.is_in_transaction()
        finally:
            await hot._pool.release(conn)
        assert await hot.fetchrow("SELECT 3") == (3,)
    finally:
        await hot.close()


def test_a_connection_left_in_a_transaction_is_reset(pg_db_url: str) -> None:
    asyncio.run(_open_transaction_is_rolled_back(pg_db_url))


async def _closed_connection_is_replaced(url: str) -> None:
    hot = PgHotPath(url, 1)
    try:

        async def close_it(conn: Any, unnamed: bool, deadline: float) -> None:
            conn._con.terminate()  # the server went away under it

        await hot._on_conn(close_it)
        assert await hot.fetchrow("SELECT 4") == (4,)  # a new connection in its place
    finally:
        await hot.close()


def test_a_closed_connection_goes_back_through_the_full_release(pg_db_url: str) -> None:
    asyncio.run(_closed_connection_is_replaced(pg_db_url))
