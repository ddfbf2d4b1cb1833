"""``SESSION_DB_POOL_SIZE``: one process never holds more PostgreSQL connections for requests
than it says, however many requests wait (the rest queue for a connection, then get a 503
after ``SESSION_DB_TIMEOUT_SECONDS`` as any request that cannot be served in time)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from session_service import SessionConfigError, SessionStoreBackend, SessionStoreUnavailable
from session_service.records import new_session_id
from session_service.settings import SessionSettings


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _most_waiting(url: str, size: int | None, requests: int) -> int:
    """The most connections of the store seen waiting at once behind a locked table while
    ``requests`` loads run side by side."""
    env = {"SESSION_DB_URL": url, "SESSION_DB_TIMEOUT_SECONDS": "1"}
    if size is not None:
        env["SESSION_DB_POOL_SIZE"] = str(size)
    backend = SessionStoreBackend.from_settings(SessionSettings.from_env(env))
    await backend.migrate()
    blocker = await asyncpg.connect(_dsn(url))
    watcher = await asyncpg.connect(_dsn(url))
    try:
        await blocker.execute("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        loads = [asyncio.ensure_future(backend.load(new_session_id())) for _ in range(requests)]
        most = 0
        while not all(t.done() for t in loads):
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            most = max(most, int(waiting))
        for t in loads:  # every one answered: a 503 after the timeout, nothing hung
            assert isinstance(t.exception(), SessionStoreUnavailable)
        await blocker.execute("ROLLBACK")
        return most
    finally:
        await blocker.close()
        await watcher.close()
        await backend.close()


def test_a_process_opens_no_more_connections_than_its_pool_size(pg_db_url: str) -> None:
    assert asyncio.run(_most_waiting(pg_db_url, 2, 10)) == 2


def test_the_default_pool_serves_more_requests_at_once(pg_db_url: str) -> None:
    assert asyncio.run(_most_waiting(pg_db_url, None, 10)) > 2


@pytest.mark.parametrize("raw", ["0", "1001", "many"])
def test_a_pool_size_out_of_bounds_is_refused_by_name(raw: str) -> None:
    with pytest.raises(SessionConfigError, match="SESSION_DB_POOL_SIZE"):
        SessionSettings.from_env({"SESSION_DB_POOL_SIZE": raw})
