"""Races and hostile keys, on every store kind: the guarantees that need atomic operations.

* creates forced onto one id never overwrite each other;
* a login (``rotate``) racing "sign this user out everywhere" never leaves a session behind;
* logins racing a clear leave the indexes exact (what the clear counted is gone, the rest
  are counted and load);
* ids full of glob and separator characters, NUL or 10 KB read as missing;
* tenant ``a:b`` with user ``c`` and tenant ``a`` with user ``b:c`` stay two owners.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow


def _record(
    data: dict[str, Any], *, sid: str | None = None, tenant_id: str | None = None
) -> SessionRecord:
    return SessionRecord(
        id=sid or new_session_id(),
        data=data,
        expiry_date=utcnow() + timedelta(hours=1),
        tenant_id=tenant_id,
    )


def _rounds(store_kind: str) -> int:
    # 1,000 on Redis, where each round is two scripts; the SQL stores pay a transaction each.
    return {"redis": 1000, "memory": 1000}.get(store_kind, 100)


async def test_creates_forced_onto_one_id_keep_every_session(
    backend: SessionStoreBackend,
) -> None:
    shared = new_session_id()
    records = [_record({"i": i}, sid=shared) for i in range(200)]
    created = await asyncio.gather(*(backend.create(r) for r in records))
    ids = [r.id for r in created]
    assert len(set(ids)) == 200 and shared in ids
    loaded = await asyncio.gather(*(backend.load(sid) for sid in ids))
    assert [r.data if r else None for r in loaded] == [{"i": i} for i in range(200)]
    assert (await backend.stats()).live == 200


async def test_rotate_racing_clear_user_never_leaves_a_session(
    backend: SessionStoreBackend, store_kind: str
) -> None:
    for _ in range(_rounds(store_kind)):
        old = _record({"user_id": "alice"})
        await backend.save(old)
        new = _record({"user_id": "alice", "logged_in": True})
        rotated, cleared = await asyncio.gather(
            backend.rotate(old.id, new), backend.clear_sessions_for_user("alice")
        )
        assert cleared == 1  # the session, under its old id or its new one
        assert await backend.load(old.id) is None
        assert await backend.load(new.id) is None, f"rotated={rotated} survived the clear"
        assert await backend.count_sessions_for_user("alice") == 0


async def test_fifty_logins_racing_a_clear_leave_exact_indexes(
    backend: SessionStoreBackend,
) -> None:
    logins = [_record({"user_id": "bob", "i": i}) for i in range(50)]

    async def log_in(record: SessionRecord) -> SessionRecord:
        anonymous = _record({"cart": [1]})
        await backend.create(anonymous)
        assert await backend.rotate(anonymous.id, record)
        return record

    clearing = asyncio.ensure_future(backend.clear_sessions_for_user("bob"))
    await asyncio.gather(*(log_in(r) for r in logins))
    cleared = await clearing
    alive = [r.id for r in logins if await backend.load(r.id) is not None]
    assert cleared + len(alive) == 50
    assert sorted(await backend.get_session_ids_for_user("bob")) == sorted(alive)
    assert await backend.count_sessions_for_user("bob") == len(alive)
    assert await backend.clear_sessions_for_user("bob") == len(alive)


HOSTILE_IDS = ["*", "?", "[a-z]*", "*?[]:{}", "s:*", "{tag}", "a\x00b", "x" * 10_240, ":"]


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=lambda s: repr(s[:12]))
async def test_hostile_ids_read_as_missing(backend: SessionStoreBackend, hostile: str) -> None:
    live = _record({"user_id": "alice"})
    await backend.save(live)
    assert await backend.load(hostile) is None
    assert await backend.touch(hostile, utcnow() + timedelta(days=1)) is False
    assert await backend.rotate(hostile, _record({"k": 1})) is False
    await backend.delete(hostile)
    assert await backend.clear_sessions_for_user(hostile) == 0
    assert await backend.count_sessions_for_user("alice", tenant_id=hostile) == 0
    assert await backend.clear_all_sessions(tenant_id=hostile) == 0
    assert await backend.load(live.id) is not None
    assert await backend.count_sessions_for_user("alice") == 1


async def test_separators_in_tenant_and_user_ids_never_collide(
    backend: SessionStoreBackend,
) -> None:
    first = _record({"user_id": "c"}, tenant_id="a:b")
    second = _record({"user_id": "b:c"}, tenant_id="a")
    third = _record({"user_id": "c%3A"}, tenant_id="a%3Ab")
    fourth = _record({"user_id": "c"}, tenant_id="a:=b")  # "=" marks a part on Redis
    fifth = _record({"user_id": "b:=c"}, tenant_id="a")
    for record in (first, second, third, fourth, fifth):
        await backend.save(record)
    assert await backend.get_session_ids_for_user("b:=c", tenant_id="a") == [fifth.id]
    assert await backend.clear_sessions_for_user("c", tenant_id="a:=b") == 1
    assert await backend.load(fifth.id) is not None
    assert await backend.get_session_ids_for_user("c", tenant_id="a:b") == [first.id]
    assert await backend.get_session_ids_for_user("b:c", tenant_id="a") == [second.id]
    assert await backend.count_sessions_for_user("c", tenant_id="a") == 0
    assert await backend.clear_sessions_for_user("c", tenant_id="a:b") == 1
    assert await backend.load(second.id) is not None
    assert await backend.load(third.id) is not None
    dumped = [r.id for r in await backend.dump_all_sessions(tenant_id="a")]
    assert sorted(dumped) == sorted([second.id, fifth.id])
    assert await backend.clear_all_sessions(tenant_id="a%3Ab") == 1
    assert await backend.load(second.id) is not None
