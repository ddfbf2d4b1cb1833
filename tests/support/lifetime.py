"""Test support for the lifetime tests: making a stored session older than it is.

A session's absolute lifetime starts at the ``created_at`` its store records; the tests move
that start into the past (as if the session had been created long ago) in each store's own
way, since no public method rewrites it. Nothing else about the session changes. The store
contract's ``age_session`` hook (``tests/stores/test_contract.py``) and the web tests both use
these.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from session_service import SessionStoreBackend
from session_service.storable import at_rest_id
from session_service.stores.memory import MemorySessionStore
from session_service.stores.redis import RedisSessionStore
from session_service.stores.redis_cluster import RedisClusterSessionStore
from session_service.stores.sql.schema import sessions_table

from ..conftest import sql_engine


async def age_session(backend: SessionStoreBackend, session_id: str, by: timedelta) -> None:
    """Move the stored start (``created_at``) of ``session_id`` back by ``by``, on any of the
    project's four stores."""
    store = backend.store
    if isinstance(store, MemorySessionStore):
        age_memory_session(store, session_id, by)
    elif isinstance(store, RedisSessionStore):
        await age_redis_session(store, session_id, by)
    else:
        await age_sql_session(backend, session_id, by)


def age_memory_session(store: MemorySessionStore, session_id: str, by: timedelta) -> None:
    store._space.sessions[at_rest_id(session_id)].created_at -= by


async def age_redis_session(store: RedisSessionStore, session_id: str, by: timedelta) -> None:
    key = store.key_prefix + "s:" + at_rest_id(session_id)
    if isinstance(store, RedisClusterSessionStore):  # its key depends on its owner
        key = await store.stored_key(at_rest_id(session_id))
    raw = await store.client.get(key)
    assert isinstance(raw, bytes)
    fields = raw.split(b"\0", 3)
    fields[2] = str(int(fields[2]) - by // timedelta(microseconds=1)).encode()
    await store.client.set(key, b"\0".join(fields), keepttl=True)


async def age_sql_session(backend: SessionStoreBackend, session_id: str, by: timedelta) -> None:
    record = await backend.load(session_id)  # before the limit is set: still live
    assert record is not None and record.created_at is not None
    async with sql_engine(backend).begin() as conn:
        await conn.execute(
            update(sessions_table)
            .where(sessions_table.c.id == at_rest_id(session_id))
            .values(created_at=record.created_at - by)
        )
