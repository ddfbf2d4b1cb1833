"""``SESSION_MAX_PER_USER`` on every store kind: a login past the limit signs out the user's
least recently used other sessions in that tenant, atomically, and never the one logging in.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow


def _record(data: dict[str, Any], *, tenant_id: str | None = "t") -> SessionRecord:
    return SessionRecord(
        id=new_session_id(),
        data=data,
        expiry_date=utcnow() + timedelta(hours=1),
        tenant_id=tenant_id,
    )


def _limit(backend: SessionStoreBackend, n: int) -> None:
    backend.store.max_per_user = n  # type: ignore[attr-defined]


async def _live(backend: SessionStoreBackend, ids: list[str]) -> list[bool]:
    return [await backend.load(sid) is not None for sid in ids]


async def test_a_login_past_the_limit_signs_out_the_least_recently_used(
    backend: SessionStoreBackend,
) -> None:
    _limit(backend, 3)
    first, second, third = [await backend.create(_record({"user_id": "alice"})) for _ in "abc"]
    # Created in order; the first is then used again (its expiry extended), so the second is
    # the least recently used when a fourth login arrives.
    assert await backend.touch(first.id, utcnow() + timedelta(hours=2))
    fourth = await backend.create(_record({"user_id": "alice"}))
    assert await _live(backend, [first.id, second.id, third.id, fourth.id]) == [
        True, False, True, True,
    ]  # fmt: skip
    assert await backend.count_sessions_for_user("alice", tenant_id="t") == 3


async def test_the_limit_counts_one_user_in_one_tenant(backend: SessionStoreBackend) -> None:
    _limit(backend, 1)
    bob = await backend.create(_record({"user_id": "bob"}))
    elsewhere = await backend.create(_record({"user_id": "alice"}, tenant_id="other"))
    untenanted = await backend.create(_record({"user_id": "alice"}, tenant_id=None))
    anonymous = await backend.create(_record({"cart": [1]}))
    old = await backend.create(_record({"user_id": "alice"}))
    new = await backend.create(_record({"user_id": "alice"}))
    assert await _live(backend, [bob.id, elsewhere.id, untenanted.id, anonymous.id]) == [True] * 4
    assert await _live(backend, [old.id, new.id]) == [False, True]
    again = await backend.create(_record({"user_id": "alice"}, tenant_id=None))
    assert await _live(backend, [untenanted.id, again.id, elsewhere.id]) == [False, True, True]


async def test_no_limit_by_default(backend: SessionStoreBackend) -> None:
    ids = [(await backend.create(_record({"user_id": "alice"}))).id for _ in range(12)]
    assert await _live(backend, ids) == [True] * 12


async def test_every_save_that_binds_a_user_applies_the_limit(
    backend: SessionStoreBackend,
) -> None:
    """A login may arrive as a rotate (``cycle_id``), a patch setting ``user_id``, a save or
    an update; each leaves at most the limit."""
    _limit(backend, 1)
    kept = await backend.create(_record({"user_id": "alice"}))
    anon = await backend.create(_record({"cart": [1]}))
    assert await backend.patch(anon.id, {"user_id": "alice"}, ())
    assert await _live(backend, [kept.id, anon.id]) == [False, True]

    other = await backend.create(_record({"step": 1}))
    moved = _record({"user_id": "alice", "step": 2})
    assert await backend.rotate(other.id, moved)
    assert await _live(backend, [anon.id, moved.id]) == [False, True]

    saved = _record({"user_id": "alice"})
    await backend.save(saved)
    assert await _live(backend, [moved.id, saved.id]) == [False, True]

    plain = await backend.create(_record({"x": 1}))
    plain.data = {"user_id": "alice"}
    assert await backend.update(plain)
    assert await _live(backend, [saved.id, plain.id]) == [False, True]

    # A write that leaves the owner as it was is no login: nothing more is signed out.
    assert await backend.patch(plain.id, {"cart": [2]}, ())
    assert await backend.count_sessions_for_user("alice") == 1


@pytest.mark.parametrize("limit", [1, 5])
async def test_racing_logins_never_leave_more_than_the_limit(
    backend: SessionStoreBackend, db_url: str, limit: int
) -> None:
    """N+10 logins of one user at once, from two app instances (two stores on one database),
    half by create and half by rotate: exactly N stay, and each of them loads."""
    second = await SessionStoreBackend.connect(db_url)
    try:
        _limit(backend, limit)
        _limit(second, limit)
        anon = [await backend.create(_record({"cart": i})) for i in range(limit + 10)]

        async def login(i: int) -> str:
            store = backend if i % 2 else second
            if i % 4 < 2:
                return (await store.create(_record({"user_id": "alice", "i": i}))).id
            record = _record({"user_id": "alice", "i": i})
            assert await store.rotate(anon[i].id, record)
            return record.id

        for _ in range(3):
            ids = await asyncio.gather(*(login(i) for i in range(limit + 10)))
            assert len(set(ids)) == limit + 10
            listed = await backend.list_sessions_for_user("alice", tenant_id="t")
            left = [ids[r.data["i"]] for r in listed]  # listings name no ids: by the data
            assert len(left) == limit
            assert set(left) <= set(ids)
            assert await _live(backend, left) == [True] * limit
            anon = [await backend.create(_record({"cart": i})) for i in range(limit + 10)]
    finally:
        await second.close()
