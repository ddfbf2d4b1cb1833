"""What only the in-memory store has: sharing by URL, and its size bound."""

from __future__ import annotations

from datetime import timedelta

import pytest

from session_service import (
    MemorySessionStore,
    SessionRecord,
    SessionStoreUnavailable,
)
from session_service.records import new_session_id, utcnow

pytestmark = pytest.mark.stores("memory")


def _record(data: dict[str, object], **delta: float) -> SessionRecord:
    expiry = utcnow() + (timedelta(**delta) if delta else timedelta(hours=1))
    return SessionRecord(new_session_id(), dict(data), expiry)


async def test_stores_on_one_url_share_sessions_and_other_names_do_not(db_url: str) -> None:
    first, second = MemorySessionStore(db_url), MemorySessionStore(db_url)
    other = MemorySessionStore(db_url + "_other")
    record = _record({"user_id": "alice"})
    await first.save(record)
    assert await second.load(record.id) is not None
    assert await other.load(record.id) is None
    assert await second.clear_sessions_for_user("alice") == 1
    assert await first.load(record.id) is None


async def test_a_full_store_refuses_new_sessions_and_keeps_live_ones(db_url: str) -> None:
    store = MemorySessionStore(db_url, max_sessions=3)
    live = [_record({"i": i}) for i in range(2)]
    for record in live:
        await store.create(record)
    await store.save(_record({"old": True}, seconds=-1))  # expired: purged to make room
    await store.create(_record({"i": 2}))
    with pytest.raises(SessionStoreUnavailable, match="SESSION_MEMORY_MAX_SESSIONS"):
        await store.create(_record({"i": 3}))
    for record in live:
        assert await store.load(record.id) is not None
    live[0].data = {"i": 0, "updated": True}
    assert await store.update(live[0])  # existing sessions still change
    await store.delete(live[1].id)
    await store.create(_record({"i": 4}))  # room again


def test_service_passes_the_memory_bound_from_the_settings(db_url: str, tmp_path: object) -> None:
    from session_service import DefaultSessionService

    from ..support.webapp import settings_for

    settings = settings_for(db_url, str(tmp_path), SESSION_MEMORY_MAX_SESSIONS="7")
    store = DefaultSessionService(db_url, settings).get_session_store().store
    assert isinstance(store, MemorySessionStore) and store.max_sessions == 7
