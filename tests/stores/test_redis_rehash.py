"""Issue 25, Redis: ``migrate`` files the sessions of the previous layout (keys and index
entries named by the id itself) under their hashed ids, so they load by their cookie's id,
stay clearable by user and tenant, and a second run (or one after an interruption) moves
nothing and hashes no hash."""

from __future__ import annotations

from datetime import timedelta

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.storable import at_rest_id
from session_service.stores import _rules, base
from session_service.stores.redis import RedisSessionStore
from session_service.stores.redis.rehash import DONE_KEY

pytestmark = pytest.mark.stores("redis")


def _record(user: str | None, tenant: str | None = None) -> SessionRecord:
    data = {} if user is None else {"user_id": user}
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1), tenant_id=tenant)


async def test_migrate_moves_old_keys_to_hashed_ids(
    backend: SessionStoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.store
    assert isinstance(store, RedisSessionStore)
    await store.client.delete(store.key_prefix + DONE_KEY)  # the fixture's migrate() ran
    with monkeypatch.context() as old_version:  # what the previous release wrote: the id
        old_version.setattr(base, "at_rest_id", lambda sid: sid)
        old_version.setattr(_rules, "at_rest_id", lambda sid: sid)
        old = [_record("alice"), _record("alice", "acme"), _record(None)]
        for record in old:
            await backend.save(record)
        assert await store.client.exists(store.key_prefix + "s:" + old[0].id)
    already = _record("bob")  # written by the new version before the migration
    await backend.save(already)
    progress: list[int] = []

    await store.migrate(on_progress=progress.append)

    assert progress[-1] == 3
    for record in [*old, already]:
        loaded = await backend.load(record.id)
        assert loaded is not None and loaded.id == record.id
        assert not await store.client.exists(store.key_prefix + "s:" + record.id)
    members = await store.client.zrange(store.key_prefix + "u:-:=alice", 0, -1)
    assert members == [at_rest_id(old[0].id).encode()]
    assert await backend.count_sessions_for_user("alice") == 2
    for index in ("u:-:=alice", "u:=acme:=alice", "t:-", "t:=acme"):  # every index kept its TTL
        assert await store.client.pttl(store.key_prefix + index) > 0, index

    await store.client.delete(store.key_prefix + DONE_KEY)  # an interrupted run, resumed
    again: list[int] = []
    await store.migrate(on_progress=again.append)
    assert again == []  # nothing moved, no hash hashed
    assert await backend.load(already.id) is not None
    assert await backend.clear_sessions_for_user("alice", tenant_id="acme") == 1
    assert await backend.clear_all_sessions() == 3
