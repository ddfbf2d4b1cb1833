"""Issue 25: no store keeps a session id. Every row, key and value a store holds is read back
raw (SQL rows, every Redis key and value, the memory store's dict) after the writes a session
goes through (create, save, update, patch, touch, rotate, a listing that names it, max per
user), and no id appears in any of it; each session is filed under ``at_rest_id`` of its id.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.storable import at_rest_id
from session_service.stores.memory import MemorySessionStore
from session_service.stores.redis import RedisSessionStore
from session_service.stores.redis_cluster import RedisClusterSessionStore

from ..conftest import sql_engine


def _record(data: dict[str, Any], tenant_id: str | None = None) -> SessionRecord:
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1), tenant_id=tenant_id)


async def _everything_stored(backend: SessionStoreBackend) -> str:
    """Every key and value the store holds, as one text."""
    store = backend.store
    if isinstance(store, MemorySessionStore):
        return repr(dict(store._space.sessions)) + repr(vars(store._space))
    if isinstance(store, RedisSessionStore):
        client: Any = store.client
        parts: list[str] = []
        async for key in client.scan_iter(match=store.key_prefix + "*", count=500):
            parts.append(repr(key))
            kind = (await client.type(key)).decode()
            if kind == "string":
                parts.append(repr(await client.get(key)))
            elif kind == "zset":
                parts += [repr(m) for m in await client.zrange(key, 0, -1)]
            else:
                parts.append(repr(await client.dump(key)))
        return "\n".join(parts)
    async with sql_engine(backend).connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM sessions"))).all()
    return "\n".join(repr(tuple(row)) for row in rows)


async def _stored_keys(backend: SessionStoreBackend) -> set[str]:
    store = backend.store
    if isinstance(store, MemorySessionStore):
        return set(store._space.sessions)
    if isinstance(store, RedisSessionStore):
        prefix = store.key_prefix + "s:"
        keys = store.client.scan_iter(match=prefix + "*", count=500)
        return {k.decode()[len(prefix) :] async for k in keys}
    async with sql_engine(backend).connect() as conn:
        return {r[0] for r in (await conn.execute(text("SELECT id FROM sessions"))).all()}


async def test_no_row_key_or_value_holds_a_session_id(backend: SessionStoreBackend) -> None:
    store: Any = backend.store
    store.max_per_user = 5  # evictions read the user's index too
    ids: list[str] = []
    created = await backend.create(_record({"cart": [1]}, tenant_id="acme"))
    ids.append(created.id)
    saved = _record({"user_id": "alice", "k": 1})
    await backend.save(saved)
    ids.append(saved.id)
    saved.data["k"] = 2
    assert await backend.update(saved)
    assert await backend.patch(saved.id, {"k": 3}, [])
    assert await backend.touch(saved.id, utcnow() + timedelta(hours=2), last_seen=utcnow())
    anonymous = await backend.create(_record({"cart": [2]}))
    ids.append(anonymous.id)
    login = _record({"user_id": "alice", "cart": [2]})
    assert await backend.rotate(anonymous.id, login)
    ids.append(login.id)
    assert [r.id for r in await backend.list_sessions_for_user("alice")] == ["", ""]
    assert len(await backend.get_session_ids_for_user("alice")) == 2
    assert {r.id for r in await backend.dump_all_sessions()} == {""}

    stored = await _everything_stored(backend)
    for sid in ids:
        assert sid not in stored
    live = [created.id, saved.id, login.id]
    if isinstance(backend.store, RedisClusterSessionStore):  # keys carry the owner's slot tag
        for sid in live:
            assert at_rest_id(sid) in await backend.store.stored_key(at_rest_id(sid))
    else:
        assert await _stored_keys(backend) == {at_rest_id(sid) for sid in live}
    for sid in live:  # and each still loads by its id, carrying it
        loaded = await backend.load(sid)
        assert loaded is not None and loaded.id == sid
