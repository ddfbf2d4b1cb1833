"""PostgreSQL's one-round-trip limited login (revision ``0008_login_function``) and what happens
without it: a schema migrated before that revision (code deployed before ``migrate``) still
signs the extras out, atomically, and a ``migrate`` brings the function back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.stores.sql import migrate
from session_service.stores.sql.store import SqlSessionStore

from ..conftest import SCHEMA_HEAD, sql_engine
from ..support.pooler import limited_instances
from .test_pooler import pgbouncer, pooled  # noqa: F401  (fixtures)

LIMIT = 3
_EXISTS = text("SELECT count(*) FROM pg_proc WHERE proname = 'session_service_login'")


async def _schema_at_0007(backend: SessionStoreBackend) -> None:
    """The schema as the revision before the function left it (Alembic's own downgrade)."""

    def down(conn: Connection) -> None:
        command.downgrade(migrate._alembic_config(conn), "0007_limit_params")

    store = backend.store
    assert isinstance(store, SqlSessionStore)
    await store.run_migration(down)
    assert await store.schema_revision() == "0007_limit_params"


def _count_transactions(backend: SessionStoreBackend) -> list[int]:
    """Grows by one for each multi-statement transaction the per-request driver runs from now
    on (the fallback's three round trips; an instance attribute over the driver's method, for
    this test only)."""
    hot: Any = backend.store.hot  # type: ignore[attr-defined]
    real, seen = hot.transaction, []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        seen.append(1)
        return await real(*args, **kwargs)

    hot.transaction = counted
    return seen


def _record(data: dict[str, object]) -> SessionRecord:
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1), None, "t")


async def _racing_logins(stores: list[SessionStoreBackend], n: int) -> list[str]:
    """``n`` anonymous sessions logging in as alice at once (``rotate``), over ``stores``;
    the ids they moved to."""
    anonymous = [await stores[0].create(_record({"cart": i})) for i in range(n)]

    async def login(i: int) -> str:
        record = _record({"user_id": "alice", "i": i})
        assert await stores[i % len(stores)].rotate(anonymous[i].id, record)
        return record.id

    return list(await asyncio.gather(*(login(i) for i in range(n))))


async def _left(backend: SessionStoreBackend, ids: list[str]) -> list[str]:
    listed = await backend.list_sessions_for_user("alice", tenant_id="t")
    return [ids[int(r.data["i"])] for r in listed]  # listings name no ids: by the data


@pytest.fixture
async def two_instances(pg_db_url: str) -> AsyncIterator[list[SessionStoreBackend]]:
    stores = [await SessionStoreBackend.connect(pg_db_url) for _ in range(2)]
    await stores[0].migrate()
    for store in stores:
        store.store.max_per_user = LIMIT  # type: ignore[attr-defined]
    yield stores
    for store in stores:
        await store.close()


async def test_migrate_creates_the_login_function(
    two_instances: list[SessionStoreBackend],
) -> None:
    async with sql_engine(two_instances[0]).connect() as conn:
        assert await conn.scalar(_EXISTS) == 1


async def test_racing_logins_on_a_schema_without_the_function_leave_the_limit(
    two_instances: list[SessionStoreBackend], caplog: pytest.LogCaptureFixture
) -> None:
    await _schema_at_0007(two_instances[0])
    transactions = _count_transactions(two_instances[0])
    with caplog.at_level(logging.WARNING, logger="session_service"):
        ids = await _racing_logins(two_instances, LIMIT + 10)
    left = await _left(two_instances[0], ids)
    assert len(left) == LIMIT and set(left) <= set(ids)
    assert [await two_instances[0].load(sid) is not None for sid in left] == [True] * LIMIT
    said = [r for r in caplog.records if "0008_login_function" in r.getMessage()]
    assert len(said) == 2 and "migrate" in said[0].getMessage()  # once per instance, not login
    assert transactions  # the fallback's


async def test_migrate_brings_the_function_back_for_the_store_that_ran_it(
    two_instances: list[SessionStoreBackend], caplog: pytest.LogCaptureFixture
) -> None:
    first = two_instances[0]
    await _schema_at_0007(first)
    await _racing_logins([first], 2)  # meets the old schema, falls back
    await first.migrate()
    caplog.clear()
    transactions = _count_transactions(first)
    with caplog.at_level(logging.WARNING, logger="session_service"):
        ids = await _racing_logins([first], LIMIT + 10)
    assert len(await _left(first, ids)) == LIMIT
    assert "0008_login_function" not in caplog.text
    assert transactions == []  # one statement per login again, not the fallback's transaction
    async with sql_engine(first).connect() as conn:
        assert await conn.scalar(_EXISTS) == 1
    assert await first.store.schema_revision() == SCHEMA_HEAD  # type: ignore[attr-defined]


async def test_racing_logins_through_a_transaction_pooler_leave_the_limit(
    pooled: tuple[str, str],  # noqa: F811  (the fixture imported above)
) -> None:
    """The function through PgBouncer in ``pool_mode = transaction`` (unnamed statements):
    logins by ``rotate`` from two app instances."""
    async with limited_instances(pooled, LIMIT) as instances:
        for _ in range(2):
            ids = await _racing_logins(instances, LIMIT + 10)
            assert len(await _left(instances[0], ids)) == LIMIT
