"""The rules every store follows are the same on every store kind, because they are written
once above the stores: the same error for the same mistake, the same answer for an id no store
can hold, the same retry when an id is taken, and limits offered by the store itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from session_service import (
    MemorySessionStore,
    PgSessionStore,
    SessionConfigError,
    SessionDataError,
    SessionRecord,
    SessionServiceError,
    SessionStoreBackend,
    SessionStoreUnavailable,
    SqliteSessionStore,
)
from session_service.limits import LimitStorage, storage_for
from session_service.records import new_session_id, utcnow
from session_service.stores import base
from session_service.testing._records import handles as handles_of

from ..support.webapp import settings_for

NAIVE = "naive datetimes are ambiguous; pass a timezone-aware datetime (UTC)"


def _record(sid: str | None = None) -> SessionRecord:
    return SessionRecord(sid or new_session_id(), {"k": 1}, utcnow() + timedelta(hours=1))


def _store_classes() -> list[Any]:
    from session_service.stores.redis import RedisSessionStore

    return [SqliteSessionStore, PgSessionStore, RedisSessionStore, MemorySessionStore]


@pytest.mark.stores("sqlite")  # no store is opened: one run covers every class
@pytest.mark.parametrize("url", ["memory://", "redis://127.0.0.1:1/0", "sqlite:///x.sqlite"])
def test_a_store_given_another_kind_of_url_is_a_config_error(url: str) -> None:
    for cls in _store_classes():
        if url.startswith(cls.kind if cls is not PgSessionStore else "postgres"):
            continue
        with pytest.raises(SessionConfigError, match=f"{cls.__name__} cannot open"):
            cls(url)


async def test_a_random_source_that_keeps_colliding_is_a_store_error(
    backend: SessionStoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = _record()
    await backend.create(taken)
    monkeypatch.setattr(base, "new_session_id", lambda: taken.id)
    with pytest.raises(SessionStoreUnavailable, match="random source"):
        await backend.create(_record(taken.id))
    other = _record()
    monkeypatch.undo()
    await backend.create(other)
    monkeypatch.setattr(base, "new_session_id", lambda: taken.id)
    with pytest.raises(SessionStoreUnavailable, match="random source"):
        await backend.rotate(other.id, _record(taken.id))
    assert await backend.load(other.id) is not None  # nothing moved


async def test_a_taken_id_is_replaced_on_create_and_on_rotate(
    backend: SessionStoreBackend,
) -> None:
    taken = _record()
    await backend.create(taken)
    fresh = await backend.create(_record(taken.id))
    assert fresh.id != taken.id and await backend.load(fresh.id) is not None
    moved = _record(taken.id)
    assert await backend.rotate(fresh.id, moved)
    assert moved.id not in (taken.id, fresh.id)
    assert (await backend.load(taken.id)) is not None  # never overwritten


@pytest.mark.parametrize(
    "call",
    [
        lambda b, r, naive: b.save(SessionRecord(r.id, {}, naive)),
        lambda b, r, naive: b.touch(r.id, naive),
        lambda b, r, naive: b.touch(r.id, r.expiry_date, last_seen=naive),
        lambda b, r, naive: b.seen(r.id, naive),
        lambda b, r, naive: b.patch(r.id, {"a": 1}, (), expiry_date=naive),
    ],
    ids=["save", "touch", "touch-last-seen", "seen", "patch"],
)
async def test_a_naive_datetime_is_one_data_error_on_every_store(
    backend: SessionStoreBackend, call: Any
) -> None:
    record = _record()
    await backend.create(record)
    naive = datetime.now() + timedelta(hours=1)
    with pytest.raises(SessionDataError) as caught:
        await call(backend, record, naive)
    assert str(caught.value) == NAIVE
    assert (await backend.load(record.id)) is not None


async def test_argument_mistakes_are_session_service_errors(
    backend: SessionStoreBackend,
) -> None:
    with pytest.raises(SessionServiceError, match="batch_size must be at least 1"):
        await backend.clear_all_sessions(batch_size=0)
    with pytest.raises(SessionServiceError, match="batch_size must be at least 1"):
        await backend.delete_expired_if_leader(batch_size=0)
    with pytest.raises(SessionServiceError, match="untenanted_only=True"):
        await backend.clear_sessions_for_user("u", tenant_id="t", untenanted_only=True)


@pytest.mark.parametrize("hostile", ["a\x00b", "\ud800"])
async def test_an_id_or_handle_no_store_can_hold_reads_as_missing(
    backend: SessionStoreBackend, hostile: str
) -> None:
    record = SessionRecord(new_session_id(), {"user_id": "u"}, utcnow() + timedelta(hours=1))
    await backend.create(record)
    assert await backend.load(hostile) is None
    assert await backend.patch(hostile, {"a": 1}, ()) is False
    assert await backend.touch(hostile, record.expiry_date) is False
    assert await backend.seen(hostile, utcnow()) is False
    assert await backend.rotate(hostile, _record()) is False
    await backend.delete(hostile)
    assert await backend.revoke_user_session("u", hostile) is False
    assert await backend.clear_sessions_for_user("u", keep=hostile) == 0
    assert await backend.clear_sessions_for_user(hostile) == 0
    assert await backend.count_sessions_for_user("u", tenant_id=hostile) == 0
    assert await backend.list_sessions_for_user(hostile) == []
    assert await backend.dump_all_sessions(tenant_id=hostile) == []
    assert await backend.clear_all_sessions(tenant_id=hostile) == 0
    assert await backend.count_sessions_for_user("u") == 1  # nothing was touched


async def test_listings_are_oldest_first_with_a_handle_each(
    backend: SessionStoreBackend,
) -> None:
    ids = []
    for _ in range(3):
        record = SessionRecord(new_session_id(), {"user_id": "u"}, utcnow() + timedelta(hours=1))
        await backend.create(record)
        ids.append(record.id)
    listed = await backend.list_sessions_for_user("u")
    assert all(r.handle for r in listed)
    handles = [r.handle for r in listed]
    assert handles == await handles_of(backend, ids) == await backend.get_session_ids_for_user("u")
    assert [r.handle for r in await backend.dump_all_sessions()] == handles


async def test_every_store_offers_its_own_limit_storage(backend: SessionStoreBackend) -> None:
    own = backend.store.limit_storage()  # type: ignore[attr-defined]
    assert isinstance(own, LimitStorage)
    assert type(storage_for(backend.store)) is type(own)
    allowed, _ = await own.hit("k", 1, 60_000, 1_000)
    assert allowed and await storage_for(backend.store).log("k") == [1_000]
    await own.reset("k")


async def test_a_store_of_your_own_offers_limits_as_an_attribute(
    backend: SessionStoreBackend,
) -> None:
    storage = storage_for(backend.store)

    class Mine:
        kind = "mine"
        limit_storage = storage

    assert storage_for(Mine()) is storage


@pytest.mark.stores("sqlite", "memory")
def test_the_backend_of_the_settings_carries_every_store_setting(
    db_url: str, tmp_path: Path
) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_MAX_BYTES="1234")
    backend = SessionStoreBackend.from_settings(settings)
    assert backend.kind == settings.store_kind
    assert backend.store.max_bytes == 1234
    assert backend.load == backend.store.load  # the store's own method, not a forwarder
