"""PostgreSQL's revocation notifications go out only while a read cache listens (revision
``0010_notify_listeners``), and no cache misses one: not one that starts while a sign-out is
still uncommitted, nor one that was listening when ``migrate`` added the registry.

A notification is the one lock a whole server's commits queue on (benchmarks/ANALYSIS.md,
issue 21, PostgreSQL), so a server with no cache sends none.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy.engine import Connection, make_url

from session_service import SessionStoreBackend
from session_service.cache.postgres import CHANNEL, PgRevocations
from session_service.stores.sql import migrate
from session_service.stores.sql.store import SqlSessionStore

from ..support.cache import WAIT, Heard, cached, record

pytestmark = pytest.mark.stores("postgres")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def plain(pg_db_url: str) -> AsyncIterator[SessionStoreBackend]:
    """A migrated store without a cache (it registers nothing)."""
    backend = await SessionStoreBackend.connect(pg_db_url)
    await backend.migrate()
    yield backend
    await backend.close()


async def _notified_during(url: str, action: Callable[[], Awaitable[Any]]) -> list[str]:
    """What the revocation channel carried while ``action`` ran, heard by a connection that
    listens without registering (as an outside tool would). A marker sent after ``action``
    ends the wait: notifications arrive in commit order, so anything ``action`` sent is
    heard before it."""
    listener, sender = await asyncpg.connect(_dsn(url)), await asyncpg.connect(_dsn(url))
    marker, heard = f"marker:{secrets.token_hex(4)}", []
    done = asyncio.get_running_loop().create_future()

    def got(_c: Any, _pid: int, _ch: str, payload: str) -> None:
        if payload == marker:
            done.set_result(None)
        elif not payload.startswith("ping:"):
            heard.append(payload)

    try:
        await listener.add_listener(CHANNEL, got)
        await action()
        await sender.execute("SELECT pg_notify($1, $2)", CHANNEL, marker)
        async with asyncio.timeout(WAIT):
            await done
    finally:
        await listener.close()
        await sender.close()
    return heard


async def _sign_in_and_out(backend: SessionStoreBackend) -> None:
    """A login's rotation and a sign-out: what revision 0006's triggers notify."""
    anonymous = await backend.create(record(None, cart=1))
    login = record("u1")
    assert await backend.rotate(anonymous.id, login)
    await backend.delete(login.id)


async def test_no_notification_while_no_cache_listens(
    plain: SessionStoreBackend, pg_db_url: str
) -> None:
    url = pg_db_url
    assert await _notified_during(url, lambda: _sign_in_and_out(plain)) == []


async def test_a_listening_cache_is_notified_and_its_close_ends_that(
    plain: SessionStoreBackend, pg_db_url: str
) -> None:
    url = pg_db_url
    cache = cached(url)
    await cache.wait_listening()
    try:
        assert len(await _notified_during(url, lambda: _sign_in_and_out(plain))) == 2
    finally:
        await cache.close()
    assert await _notified_during(url, lambda: _sign_in_and_out(plain)) == []


async def test_a_cache_starting_during_an_uncommitted_sign_out_never_serves_it(
    plain: SessionStoreBackend, pg_db_url: str
) -> None:
    url = pg_db_url
    victim = await plain.create(record("u1"))
    signing_out = await asyncpg.connect(_dsn(url))
    cache = cached(url)
    try:
        tx = signing_out.transaction()
        await tx.start()
        await signing_out.execute("DELETE FROM sessions WHERE user_id = 'u1'")  # nobody listens
        up = asyncio.ensure_future(cache.wait_listening())
        # Time for the cache to come up if it could (it cannot before the sign-out ends;
        # a cache that did would now keep the session it reads next).
        await asyncio.wait({up}, timeout=2.0)
        assert await cache.load(victim.id) is not None  # not committed yet: still there
        await tx.commit()
        async with asyncio.timeout(WAIT):
            await up
        assert await cache.load(victim.id) is None
    finally:
        await cache.close()
        await signing_out.close()


async def test_a_cache_listening_before_migrate_hears_every_sign_out_after_it(
    plain: SessionStoreBackend, pg_db_url: str
) -> None:
    store = plain.store
    assert isinstance(store, SqlSessionStore)

    def down(conn: Connection) -> None:
        command.downgrade(migrate._alembic_config(conn), "0009_login_signed_out")

    await store.run_migration(down)  # the code deployed, the schema not yet migrated
    cache = cached(pg_db_url)
    registered, channel = asyncio.Event(), cache.channel
    assert isinstance(channel, PgRevocations)
    register = channel._register

    async def registering() -> None:  # an instance attribute over the method, for this test
        await register()
        if channel._registered:
            registered.set()

    channel._register = registering  # type: ignore[method-assign]
    await cache.wait_listening()
    try:
        assert not registered.is_set()  # schema 0009: nothing to register in
        first, second = await plain.create(record("u1")), await plain.create(record("u2"))
        assert await cache.load(first.id) is not None and await cache.load(second.id)
        heard = Heard(cache)
        await plain.migrate()
        await plain.delete(first.id)  # before the cache registered: the upgrade's grace
        await heard.until(first.id)
        async with asyncio.timeout(WAIT):  # the cache registers at its next ping
            await registered.wait()
        async with store.engine.begin() as conn:  # the grace over
            await conn.exec_driver_sql("DELETE FROM session_service_listeners WHERE pid = 0")
        assert await _registered(pg_db_url, cache)
        await plain.delete(second.id)
        await heard.until(second.id)
        assert await cache.load(first.id) is None and await cache.load(second.id) is None
    finally:
        await cache.close()


async def _registered(url: str, cache: Any) -> bool:
    pid = cache.channel.backend_pid
    conn = await asyncpg.connect(_dsn(url))
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM session_service_listeners WHERE pid = $1 AND until IS NULL",
            pid,
        )
    finally:
        await conn.close()
    return bool(found)


async def test_downgrade_notifies_always_again(plain: SessionStoreBackend, pg_db_url: str) -> None:
    store = plain.store
    assert isinstance(store, SqlSessionStore)

    def down(conn: Connection) -> None:
        command.downgrade(migrate._alembic_config(conn), "0009_login_signed_out")

    await store.run_migration(down)
    assert len(await _notified_during(pg_db_url, lambda: _sign_in_and_out(plain))) == 2
