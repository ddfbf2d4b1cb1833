"""Issue 25, SQL: a session written by the previous version (schema ``0004``, the id itself
as the key) still loads by its cookie's id after ``upgrade head``, and the upgrade is safe to
run again or after an interruption (a row already hashed is not hashed twice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from session_service import SessionStoreBackend
from session_service.records import new_session_id
from session_service.storable import at_rest_id
from session_service.stores.sql import SqlSessionStore
from session_service.stores.sql import migrate as _migrate

from ..conftest import SCHEMA_HEAD, sql_engine

pytestmark = pytest.mark.stores("sqlite", "postgres")

_INSERT = text(
    "INSERT INTO sessions (id, data, expiry_date, user_id, tenant_id, created_at, updated_at, "
    "handle) VALUES (:id, :data, :expiry, :user, NULL, :now, :now, :handle)"
)


def _to_0004(conn: Connection) -> None:
    command.upgrade(_migrate._alembic_config(conn), "0004")


async def test_a_session_of_the_0004_schema_loads_by_its_id_after_upgrade(db_url: str) -> None:
    backend = SessionStoreBackend.from_url(db_url)
    store = backend.store
    assert isinstance(store, SqlSessionStore)
    try:
        await store.run_migration(_to_0004)
        old, interrupted = new_session_id(), new_session_id()
        now = datetime.now(UTC)
        async with sql_engine(backend).begin() as conn:
            for key, user, handle in (
                (old, "alice", "h-old"),
                (at_rest_id(interrupted), "bob", None),
            ):
                await conn.execute(_INSERT, {"id": key, "data": f'{{"user_id": "{user}"}}',
                                             "expiry": now + timedelta(hours=1), "user": user,
                                             "now": now, "handle": handle})  # fmt: skip

        await backend.migrate()
        await backend.migrate()  # again: nothing is hashed twice

        assert await store.schema_revision() == SCHEMA_HEAD
        alice = await backend.load(old)
        assert alice is not None and alice.id == old and alice.user_id == "alice"
        assert alice.handle == "h-old"
        bob = await backend.load(interrupted)  # hashed before an interruption: left alone
        assert bob is not None and bob.user_id == "bob"
        async with sql_engine(backend).connect() as conn:
            keys = set((await conn.execute(text("SELECT id FROM sessions"))).scalars())
        assert keys == {at_rest_id(old), at_rest_id(interrupted)}
        assert await backend.clear_sessions_for_user("alice") == 1
    finally:
        await backend.close()
