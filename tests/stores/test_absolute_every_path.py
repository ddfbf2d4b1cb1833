"""``SESSION_ABSOLUTE_TTL_SECONDS`` on every path of every store kind: a session whose absolute
deadline has passed is over for the per-request writes (update, patch, touch, rotate), the
listings and counts, and the limit of sessions per user, even when its idle expiry (written
before the limit was turned on) is still far off.
"""

from __future__ import annotations

from datetime import timedelta

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.stores.base import SessionStoreBase

from ..support.lifetime import age_session

DAY = timedelta(days=1)


def _record(data: dict[str, object]) -> SessionRecord:
    return SessionRecord(new_session_id(), data, utcnow() + 30 * DAY)


async def _aged(backend: SessionStoreBackend, data: dict[str, object]) -> SessionRecord:
    """A session stored before the limit (7 days) was turned on, created 8 days ago."""
    record = await backend.create(_record(data))
    await age_session(backend, record.id, 8 * DAY)
    store = backend.store
    assert isinstance(store, SessionStoreBase)
    store.absolute_ttl = 7 * DAY
    return record


async def test_the_listings_leave_out_a_session_past_its_deadline(
    backend: SessionStoreBackend,
) -> None:
    old = await _aged(backend, {"user_id": "alice"})
    new = await backend.create(_record({"user_id": "alice"}))
    # Listings name sessions by handle (the stores keep no ids).
    assert await backend.get_session_ids_for_user("alice") == [new.handle]
    assert [r.handle for r in await backend.list_sessions_for_user("alice")] == [new.handle]
    assert await backend.count_sessions_for_user("alice") == 1
    assert [r.handle for r in await backend.dump_all_sessions()] == [new.handle]
    assert await backend.load(old.id) is None


async def test_no_write_brings_back_a_session_past_its_deadline(
    backend: SessionStoreBackend,
) -> None:
    old = await _aged(backend, {"user_id": "alice", "n": 0})
    await backend.update(SessionRecord(old.id, {"user_id": "alice", "n": 1}, utcnow() + DAY))
    await backend.patch(old.id, {"n": 2}, [], expiry_date=utcnow() + DAY)
    await backend.touch(old.id, utcnow() + DAY)
    assert await backend.load(old.id) is None
    moved = _record({"user_id": "alice", "n": 3})
    assert not await backend.rotate(old.id, moved)  # a login cannot revive it either
    assert await backend.load(old.id) is None
    assert await backend.load(moved.id) is None


async def test_a_session_past_its_deadline_keeps_no_one_out_under_the_user_limit(
    backend: SessionStoreBackend,
) -> None:
    await _aged(backend, {"user_id": "alice"})
    backend.store.max_per_user = 1  # type: ignore[attr-defined]
    anon = await backend.create(_record({"cart": 1}))
    login = _record({"user_id": "alice"})
    assert await backend.rotate(anon.id, login)
    assert await backend.get_session_ids_for_user("alice") == [anon.handle]  # kept by a login
