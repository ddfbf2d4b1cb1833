"""``SESSION_MAX_PER_USER`` inside a login's own write (``rotate``), on every store kind: the
limited rotation is the same rotation (taken ids, device fields, handles, a new absolute
lifetime) plus the sign-out of the extras, and never signs out the session it moves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow


def _record(data: dict[str, Any], sid: str | None = None) -> SessionRecord:
    return SessionRecord(sid or new_session_id(), data, utcnow() + timedelta(hours=1), None, "t")


def _limit(backend: SessionStoreBackend, n: int) -> None:
    backend.store.max_per_user = n  # type: ignore[attr-defined]


async def test_a_limited_login_onto_a_taken_id_moves_to_a_fresh_one(
    backend: SessionStoreBackend,
) -> None:
    _limit(backend, 2)
    taken = await backend.create(_record({"user_id": "bob"}))
    anon = await backend.create(_record({"cart": 1}))
    moved = _record({"user_id": "alice"}, taken.id)
    assert await backend.rotate(anon.id, moved)
    assert moved.id not in (taken.id, anon.id)
    assert (await backend.load(taken.id)) is not None  # never overwritten
    assert (await backend.load(anon.id)) is None
    loaded = await backend.load(moved.id)
    assert loaded is not None and loaded.data == {"user_id": "alice"}


async def test_a_limited_relogin_of_the_same_user_keeps_the_limit_and_the_session(
    backend: SessionStoreBackend,
) -> None:
    """A rotation of a session that already belongs to the user (a second cycle_id())."""
    _limit(backend, 2)
    first = await backend.create(_record({"user_id": "alice", "n": 1}))
    second = await backend.create(_record({"user_id": "alice", "n": 2}))
    again = _record({"user_id": "alice", "n": 3})
    assert await backend.rotate(second.id, again)
    assert (await backend.load(second.id)) is None
    # Listings name sessions by handle; a login keeps the session's handle.
    assert sorted(await backend.get_session_ids_for_user("alice", tenant_id="t")) == sorted(
        [str(first.handle), str(second.handle)]
    )
    third = _record({"user_id": "alice", "n": 4})
    anon = await backend.create(_record({"cart": 1}))
    assert await backend.rotate(anon.id, third)
    left = await backend.get_session_ids_for_user("alice", tenant_id="t")
    # the first, least recently used, went
    assert sorted(left) == sorted([str(second.handle), str(anon.handle)])


async def test_a_limited_login_keeps_the_handle_and_records_the_device(
    backend: SessionStoreBackend,
) -> None:
    _limit(backend, 3)
    anon = await backend.create(_record({"cart": 1}))
    handle = anon.handle
    login = _record({"user_id": "alice"})
    login.ip, login.user_agent, login.last_seen = "192.0.2.1", "Browser/1", utcnow()
    assert await backend.rotate(anon.id, login)
    [listed] = await backend.list_sessions_for_user("alice", tenant_id="t")
    assert listed.handle == handle
    assert (listed.ip, listed.user_agent) == ("192.0.2.1", "Browser/1")


async def test_a_limited_login_of_a_revoked_session_moves_and_signs_out_nothing(
    backend: SessionStoreBackend,
) -> None:
    _limit(backend, 1)
    other = await backend.create(_record({"user_id": "alice"}))
    anon = await backend.create(_record({"cart": 1}))
    await backend.delete(anon.id)
    assert not await backend.rotate(anon.id, _record({"user_id": "alice"}))
    assert (await backend.load(other.id)) is not None
