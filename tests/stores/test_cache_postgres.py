"""The read cache on PostgreSQL alone: what revision 0006's triggers notify when another
tool (``psql``) changes the table, the ``LISTEN`` connection's loss, and a transaction pooler
(``SESSION_PG_DIRECT_URL``; a real PgBouncer, as in ``test_pooler.py``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from session_service.cache import CachedSessionStore
from session_service.cache.postgres import PgRevocations
from session_service.errors import SessionConfigError
from session_service.storable import at_rest_id

from ..support.cache import (
    Heard,
    cache_settings,
    cached,
    count_loads,
    record,
    state_change,
    two_processes,
)
from .test_pooler import pgbouncer, pooled

__all__ = ["pgbouncer", "pooled"]  # fixtures

pytestmark = pytest.mark.stores("postgres")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def psql(url: str, sql: str, *args: Any) -> Any:
    """A statement from another tool: its own connection, not the store's."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        return await conn.execute(sql, *args)
    finally:
        await conn.close()


@pytest.fixture
async def pair(pg_db_url: str) -> AsyncIterator[tuple[CachedSessionStore, CachedSessionStore]]:
    async with two_processes(pg_db_url) as stores:
        yield stores


async def test_a_delete_from_psql_is_heard(pg_db_url: str, pair: Any) -> None:
    a, b = pair
    rec = await a.create(record("u1"))
    assert await b.load(rec.id) is not None
    heard = Heard(b)
    await psql(pg_db_url, "DELETE FROM sessions WHERE id = $1", at_rest_id(rec.id))
    await heard.until(rec.id)
    assert heard.keys == [[at_rest_id(rec.id)]]
    assert await b.load(rec.id) is None


async def test_a_large_delete_from_psql_empties_every_cache(pg_db_url: str, pair: Any) -> None:
    a, b = pair
    recs = [await a.create(record(f"u{i}")) for i in range(150)]
    for rec in recs:
        assert await b.load(rec.id) is not None
    heard = Heard(b)
    await psql(pg_db_url, "DELETE FROM sessions")
    await heard.until("*")
    assert heard.keys == [["*"]]  # one notification, not one per row
    assert len(b.cache) == 0 and len(a.cache) == 0
    assert await b.load(recs[0].id) is None


async def test_truncate_and_an_expiry_moved_into_the_past_are_heard(
    pg_db_url: str, pair: Any
) -> None:
    a, b = pair
    rec = await a.create(record("u1"))
    await b.load(rec.id)
    heard = Heard(b)
    await psql(
        pg_db_url,
        "UPDATE sessions SET expiry_date = now() - interval '1 s' WHERE id = $1",
        at_rest_id(rec.id),
    )
    await heard.until(rec.id)
    other = await a.create(record("u2"))
    await b.load(other.id)
    await psql(pg_db_url, "TRUNCATE sessions")
    await heard.until("*")
    assert await b.load(other.id) is None


async def test_an_update_that_ends_nothing_notifies_nothing(pg_db_url: str, pair: Any) -> None:
    a, b = pair
    rec = await a.create(record("u1"))
    heard = Heard(b)
    await psql(
        pg_db_url, "UPDATE sessions SET expiry_date = expiry_date + interval '1 h', data = "
        """'{"x": 1}' WHERE id = $1""", at_rest_id(rec.id),
    )  # fmt: skip
    marker = await a.create(record("u2"))
    await a.delete(marker.id)
    await heard.until(marker.id)
    assert heard.keys == [[at_rest_id(marker.id)]]


async def test_while_the_listener_is_lost_no_read_is_a_hit(pg_db_url: str, pair: Any) -> None:
    """Kill the LISTEN connection (``pg_terminate_backend``): until it is back, the process
    serves every read from the store, so a session revoked meanwhile (and never heard of) is
    refused: 0 stale reads in 1,000."""
    a, b = pair
    rec = await a.create(record("u1"))
    assert await b.load(rec.id) is not None
    channel = b.channel
    assert isinstance(channel, PgRevocations) and channel.backend_pid is not None
    channel.retry_first = 3600.0  # stays down for the test
    await psql(pg_db_url, "SELECT pg_terminate_backend($1)", channel.backend_pid)
    await state_change(b, listening=False)
    await a.delete(rec.id)  # b cannot hear this
    stale = [await b.load(rec.id) for _ in range(1000)]
    assert stale.count(None) == 1000
    live = await a.create(record("u2"))
    asked = count_loads(b)
    await b.load(live.id)
    await b.load(live.id)
    assert asked == [live.id, live.id]  # no hit while down


async def test_a_lost_listener_comes_back_empty_with_one_log_line(
    pg_db_url: str, pair: Any, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    rec = await a.create(record("u1"))
    await b.load(rec.id)
    channel = b.channel
    assert isinstance(channel, PgRevocations)
    real_dsn = channel._dsn
    attempts: list[int] = []
    real_subscribe = channel._subscribe

    async def subscribe() -> None:
        attempts.append(1)
        if len(attempts) >= 3:
            channel._dsn = real_dsn  # the server is reachable again
        await real_subscribe()

    channel._subscribe = subscribe  # type: ignore[method-assign]
    channel._dsn = _dsn(make_url(pg_db_url).set(port=1).render_as_string(False))
    caplog.set_level(logging.WARNING, logger="session_service.cache")
    await psql(pg_db_url, "SELECT pg_terminate_backend($1)", channel.backend_pid)
    await state_change(b, listening=False)
    await state_change(b, listening=True)
    assert len(attempts) >= 3  # two failed reconnects, then one that worked
    lines = [r.getMessage() for r in caplog.records if r.name == "session_service.cache"]
    assert len([line for line in lines if "lost" in line]) == 1, lines
    assert len([line for line in lines if "listening again" in line]) == 1, lines
    assert len(b.cache) == 0
    assert "pw" not in " ".join(lines) and rec.id not in " ".join(lines)


def test_behind_a_transaction_pooler_the_cache_needs_a_direct_url() -> None:
    url = "postgresql://app@pooler:6432/db"
    with pytest.raises(SessionConfigError, match="SESSION_PG_DIRECT_URL"):
        cache_settings(url, SESSION_DB_POOLER="transaction")
    settings = cache_settings(
        url, SESSION_DB_POOLER="transaction", SESSION_PG_DIRECT_URL="postgresql://app@db/db"
    )
    assert settings.pg_direct_url.startswith("postgresql")
    with pytest.raises(SessionConfigError, match="PostgreSQL URL"):
        cache_settings(url, SESSION_DB_POOLER="transaction", SESSION_PG_DIRECT_URL="redis://r")


async def test_behind_pgbouncer_revocations_come_through_the_direct_url(
    pooled: tuple[str, str],
) -> None:
    direct, through = pooled
    env = {"SESSION_DB_POOLER": "transaction", "SESSION_PG_DIRECT_URL": direct}
    async with two_processes(through, **env) as (a, b):
        rec = await a.create(record("u1"))
        assert await b.load(rec.id) is not None
        heard = Heard(b)
        await a.delete(rec.id)
        await heard.until(rec.id)
        assert await b.load(rec.id) is None


async def test_a_listen_through_an_undetected_pooler_never_serves_a_hit(
    pooled: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """SESSION_DB_POOLER unset, the URL through PgBouncer: the channel's ping shows the
    pooler (or is never answered), so the cache stays down (every read from the store)."""
    _direct, through = pooled
    caplog.set_level(logging.WARNING, logger="session_service.cache")
    store = cached(through)
    try:
        await store.migrate()
        rec = await store.create(record("u1"))
        asked = count_loads(store)
        await store.load(rec.id)  # starts the channel
        await state_change(store, listening=False, next=True)
        # Said once: the ping's sender is not our server process, or its echo never came.
        [line] = [r.getMessage() for r in caplog.records if r.name == "session_service.cache"]
        assert "pooler" in line or "timed out" in line, line
        await store.load(rec.id)
        assert asked == [rec.id, rec.id]
    finally:
        await store.close()
