"""Revision 0010 on a database in use: caches of older code, which never register in
``session_service_listeners``, keep hearing every revocation until the operator says every
instance runs the new code (``session-service caches-upgraded``), however long that takes.

A sign-out that an old instance does not hear is served from its cache until it is
redeployed, so nothing time-based may end the grace: the tests move every deadline in the
registry a century back (a clock-free stand-in for "long after the upgrade") and look again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.engine import Connection

from session_service import SessionStoreBackend
from session_service.stores.sql import migrate
from session_service.stores.sql.store import SqlSessionStore

from ..cli.test_cli import run
from ..support.cache import Heard, cached, record
from .test_cache_notify_listeners import _notified_during, _registered, _sign_in_and_out

pytestmark = pytest.mark.stores("postgres")


@pytest.fixture
async def upgraded(pg_db_url: str) -> AsyncIterator[SessionStoreBackend]:
    """A store whose database was at revision 0009 with sessions in it, then migrated
    (the code deployed, no new cache started yet)."""
    backend = await SessionStoreBackend.connect(pg_db_url)
    await backend.migrate()
    store = backend.store
    assert isinstance(store, SqlSessionStore)

    def down(conn: Connection) -> None:
        command.downgrade(migrate._alembic_config(conn), "0009_login_signed_out")

    await store.run_migration(down)
    await backend.create(record("u0"))
    await backend.migrate()
    yield backend
    await backend.close()


async def _long_after(backend: SessionStoreBackend) -> None:
    """Every deadline in the registry a century back (what any time-based end would reach),
    and every cache's own registration gone (its process stopped)."""
    store = backend.store
    assert isinstance(store, SqlSessionStore)
    async with store.engine.begin() as conn:
        await conn.exec_driver_sql(
            "UPDATE session_service_listeners SET until = until - interval '100 years'"
        )
        await conn.exec_driver_sql(
            "DELETE FROM session_service_listeners WHERE until IS NULL AND pid <> 0"
        )


async def _caches_upgraded(url: str, tmp_path: Path) -> str:
    done = await asyncio.to_thread(
        run, "caches-upgraded", data_dir=tmp_path, env={"SESSION_DB_URL": url}
    )
    assert done.returncode == 0, (done.returncode, done.stderr)
    return done.stdout


async def test_an_old_cache_hears_sign_outs_long_after_the_upgrade(
    upgraded: SessionStoreBackend, pg_db_url: str
) -> None:
    # A new cache comes and goes meanwhile: registering, it forgets those that are over.
    cache = cached(pg_db_url)
    await cache.wait_listening()
    await cache.close()
    await _long_after(upgraded)
    # An old cache is a plain LISTEN on the channel (revision 0006's callers).
    heard = await _notified_during(pg_db_url, lambda: _sign_in_and_out(upgraded))
    assert len(heard) == 2


async def test_after_caches_upgraded_only_registered_caches_are_notified(
    upgraded: SessionStoreBackend, pg_db_url: str, tmp_path: Path
) -> None:
    cache = cached(pg_db_url)
    await cache.wait_listening()
    try:
        said = await _caches_upgraded(pg_db_url, tmp_path)
        assert "notify only while a read cache is registered" in said
        assert await _registered(pg_db_url, cache)  # the command kept the registration
        victim = await upgraded.create(record("u1"))
        assert await cache.load(victim.id) is not None
        heard = Heard(cache)
        await upgraded.delete(victim.id)
        await heard.until(victim.id)
        assert await cache.load(victim.id) is None
    finally:
        await cache.close()
    assert await _notified_during(pg_db_url, lambda: _sign_in_and_out(upgraded)) == []


async def test_a_fresh_database_has_no_grace(pg_db_url: str, tmp_path: Path) -> None:
    backend = await SessionStoreBackend.connect(pg_db_url)
    try:
        await backend.migrate()
        assert await _notified_during(pg_db_url, lambda: _sign_in_and_out(backend)) == []
    finally:
        await backend.close()
    said = await _caches_upgraded(pg_db_url, tmp_path)
    assert said.startswith("no upgrade grace to end")
