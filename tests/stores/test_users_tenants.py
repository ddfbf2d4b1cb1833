"""Sessions by user and by tenant: "sign this user out everywhere", listings, stats.

``tenant_id=None`` in an admin method means every tenant; users and tenants never leak into
each other. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow


def _record(
    data: dict[str, Any] | None = None,
    *,
    tenant_id: str | None = None,
    expiry_date: datetime | None = None,
) -> SessionRecord:
    return SessionRecord(
        id=new_session_id(),
        data={} if data is None else data,
        expiry_date=expiry_date or utcnow() + timedelta(hours=1),
        tenant_id=tenant_id,
    )


async def _save_for(
    backend: SessionStoreBackend,
    user_id: str | int | None,
    *,
    tenant_id: str | None = None,
    n: int = 1,
    expired: bool = False,
) -> list[str]:
    ids = []
    for i in range(n):
        data: dict[str, Any] = {"i": i}
        if user_id is not None:
            data["user_id"] = user_id
        when = utcnow() + (timedelta(hours=-1) if expired else timedelta(hours=1))
        record = _record(data, tenant_id=tenant_id, expiry_date=when)
        await backend.save(record)
        ids.append(record.id)
    return ids


# -- clear_sessions_for_user -----------------------------------------------------------------


async def test_clear_user_removes_all_of_their_sessions(backend: SessionStoreBackend) -> None:
    alice = await _save_for(backend, "alice", n=3)
    assert await backend.clear_sessions_for_user("alice") == 3
    for sid in alice:
        assert await backend.load(sid) is None
    assert await backend.count_sessions_for_user("alice") == 0


async def test_clear_user_leaves_other_users_sessions(backend: SessionStoreBackend) -> None:
    await _save_for(backend, "alice", n=2)
    bob = await _save_for(backend, "bob", n=2)
    anonymous = await _save_for(backend, None, n=2)
    assert await backend.clear_sessions_for_user("alice") == 2
    for sid in bob + anonymous:
        assert await backend.load(sid) is not None
    assert set(await backend.get_session_ids_for_user("bob")) == set(bob)


async def test_clear_user_accepts_an_int_for_a_str_stored_user(
    backend: SessionStoreBackend,
) -> None:
    await _save_for(backend, "42", n=1)
    await _save_for(backend, 42, n=1)
    await _save_for(backend, "420", n=1)
    assert await backend.clear_sessions_for_user(42) == 2
    assert await backend.count_sessions_for_user("420") == 1


async def test_clear_user_of_unknown_user_returns_zero(backend: SessionStoreBackend) -> None:
    await _save_for(backend, "alice", n=1)
    assert await backend.clear_sessions_for_user("nobody") == 0
    assert await backend.count_sessions_for_user("alice") == 1


async def test_clear_user_counts_expired_rows_it_removes_too(
    backend: SessionStoreBackend,
) -> None:
    await _save_for(backend, "alice", n=2)
    await _save_for(backend, "alice", n=1, expired=True)
    assert await backend.clear_sessions_for_user("alice") == 3
    assert (await backend.stats()).total == 0


async def test_clear_user_in_one_tenant_leaves_their_other_tenants(
    backend: SessionStoreBackend,
) -> None:
    await _save_for(backend, "alice", tenant_id="acme", n=2)
    globex = await _save_for(backend, "alice", tenant_id="globex", n=1)
    untenanted = await _save_for(backend, "alice", n=1)
    assert await backend.clear_sessions_for_user("alice", tenant_id="acme") == 2
    assert await backend.count_sessions_for_user("alice", tenant_id="acme") == 0
    assert await backend.get_session_ids_for_user("alice", tenant_id="globex") == globex
    assert set(await backend.get_session_ids_for_user("alice")) == set(globex + untenanted)


async def test_clear_user_without_tenant_clears_every_tenant(
    backend: SessionStoreBackend,
) -> None:
    await _save_for(backend, "alice", tenant_id="acme", n=1)
    await _save_for(backend, "alice", tenant_id="globex", n=1)
    await _save_for(backend, "alice", n=1)
    bob = await _save_for(backend, "bob", tenant_id="acme", n=1)
    assert await backend.clear_sessions_for_user("alice") == 3
    assert await backend.get_session_ids_for_user("bob") == bob


async def test_clear_user_untenanted_only_leaves_their_tenants_and_other_users(
    backend: SessionStoreBackend,
) -> None:
    """``untenanted_only=True``: the user's sessions without a tenant, expired ones included
    (as every clear counts them), and nothing else."""
    untenanted = await _save_for(backend, "alice", n=2)
    await _save_for(backend, "alice", n=1, expired=True)
    t1 = await _save_for(backend, "alice", tenant_id="t1", n=1)
    bob = await _save_for(backend, "bob", n=1)
    assert await backend.clear_sessions_for_user("alice", untenanted_only=True) == 3
    for sid in untenanted:
        assert await backend.load(sid) is None
    assert await backend.get_session_ids_for_user("alice") == t1
    assert await backend.get_session_ids_for_user("bob") == bob
    assert await backend.clear_sessions_for_user("alice", untenanted_only=True) == 0


async def test_clear_user_untenanted_only_keeps_an_untenanted_session(
    backend: SessionStoreBackend,
) -> None:
    """``keep`` composes as with a tenant: it must be a live session of that user *in that
    scope* (here: without a tenant), else nothing is deleted."""
    mine, other = await _save_for(backend, "alice", n=2)
    t1 = await _save_for(backend, "alice", tenant_id="t1", n=1)
    assert await backend.clear_sessions_for_user("alice", untenanted_only=True, keep=t1[0]) == 0
    assert await backend.load(other) is not None
    assert await backend.clear_sessions_for_user("alice", untenanted_only=True, keep=mine) == 1
    assert await backend.load(other) is None
    assert set(await backend.get_session_ids_for_user("alice")) == {mine, *t1}


async def test_clear_user_untenanted_only_refuses_a_tenant(backend: SessionStoreBackend) -> None:
    """Only the sessions without a tenant, yet in tenant ``t1``: a contradiction, refused."""
    t1 = await _save_for(backend, "alice", tenant_id="t1", n=1)
    with pytest.raises(ValueError, match="untenanted_only"):
        await backend.clear_sessions_for_user("alice", tenant_id="t1", untenanted_only=True)
    assert await backend.get_session_ids_for_user("alice") == t1


# -- count / ids / list ----------------------------------------------------------------------


async def test_user_with_many_sessions_has_them_all_listed(backend: SessionStoreBackend) -> None:
    alice = await _save_for(backend, "alice", n=5)
    await _save_for(backend, "bob", n=2)
    assert await backend.count_sessions_for_user("alice") == 5
    ids = await backend.get_session_ids_for_user("alice")
    assert sorted(ids) == sorted(alice)
    assert len(ids) == len(set(ids))


async def test_unknown_user_has_no_sessions(backend: SessionStoreBackend) -> None:
    await _save_for(backend, "alice", n=1)
    assert await backend.count_sessions_for_user("nobody") == 0
    assert await backend.get_session_ids_for_user("nobody") == []
    assert await backend.list_sessions_for_user("nobody") == []


async def test_same_user_id_in_two_tenants_is_two_users(backend: SessionStoreBackend) -> None:
    acme = await _save_for(backend, "alice", tenant_id="acme", n=2)
    globex = await _save_for(backend, "alice", tenant_id="globex", n=3)
    assert await backend.count_sessions_for_user("alice", tenant_id="acme") == 2
    assert await backend.count_sessions_for_user("alice", tenant_id="globex") == 3
    assert await backend.count_sessions_for_user("alice") == 5
    assert set(await backend.get_session_ids_for_user("alice", tenant_id="acme")) == set(acme)
    assert set(await backend.get_session_ids_for_user("alice", tenant_id="globex")) == set(globex)
    assert await backend.count_sessions_for_user("alice", tenant_id="initech") == 0


async def test_list_sessions_for_user_shows_data_and_timestamps(
    backend: SessionStoreBackend,
) -> None:
    before = utcnow()
    record = _record({"user_id": "alice", "ua": "Firefox"}, tenant_id="acme")
    await backend.save(record)
    await _save_for(backend, "bob", n=1)
    [listed] = await backend.list_sessions_for_user("alice")
    assert listed.id == record.id
    assert listed.data == {"user_id": "alice", "ua": "Firefox"}
    assert listed.user_id == "alice"
    assert listed.tenant_id == "acme"
    assert listed.created_at is not None
    assert listed.created_at.tzinfo is not None
    assert listed.created_at >= before - timedelta(seconds=1)  # clock resolution only
    assert listed.updated_at is not None
    assert await backend.list_sessions_for_user("alice", tenant_id="globex") == []


async def test_user_listing_is_oldest_first(backend: SessionStoreBackend) -> None:
    await _save_for(backend, "alice", n=6)
    listed = await backend.list_sessions_for_user("alice")
    created = [r.created_at for r in listed]
    assert None not in created
    assert created == sorted(created)  # type: ignore[type-var]
    assert [r.id for r in listed] == await backend.get_session_ids_for_user("alice")


async def test_closed_backend_reconnects_on_next_use(backend: SessionStoreBackend) -> None:
    record = _record({"user_id": "alice"})
    await backend.save(record)
    await backend.close()
    assert await backend.load(record.id) is not None
    assert await backend.count_sessions_for_user("alice") == 1
    await backend.close()
    await backend.save(_record({"user_id": "alice"}))
    assert await backend.clear_sessions_for_user("alice") == 2


async def test_tenant_is_kept_on_the_session(backend: SessionStoreBackend) -> None:
    record = _record({"k": 1}, tenant_id="acme")
    await backend.save(record)
    loaded = await backend.load(record.id)
    assert loaded is not None
    assert loaded.tenant_id == "acme"


# -- dump_all_sessions -----------------------------------------------------------------------


async def test_dump_shows_every_live_session(backend: SessionStoreBackend) -> None:
    live = await _save_for(backend, "alice", tenant_id="acme", n=2)
    live += await _save_for(backend, None, n=1)
    await _save_for(backend, "bob", n=1, expired=True)
    dumped = await backend.dump_all_sessions()
    assert sorted(r.id for r in dumped) == sorted(live)
    by_id = {r.id: r for r in dumped}
    assert by_id[live[0]].data == {"i": 0, "user_id": "alice"}
    assert by_id[live[0]].tenant_id == "acme"


async def test_dump_of_one_tenant_shows_only_that_tenant(backend: SessionStoreBackend) -> None:
    acme = await _save_for(backend, "alice", tenant_id="acme", n=2)
    await _save_for(backend, "alice", tenant_id="globex", n=1)
    await _save_for(backend, "alice", n=1)
    assert sorted(r.id for r in await backend.dump_all_sessions(tenant_id="acme")) == sorted(acme)
    assert await backend.dump_all_sessions(tenant_id="initech") == []


# -- clear_all_sessions ----------------------------------------------------------------------


async def test_clear_all_removes_every_session(backend: SessionStoreBackend) -> None:
    await _save_for(backend, "alice", tenant_id="acme", n=2)
    await _save_for(backend, None, n=2)
    await _save_for(backend, "bob", n=1, expired=True)
    assert await backend.clear_all_sessions() == 5
    assert (await backend.stats()).total == 0


async def test_clear_all_of_one_tenant_leaves_the_others(backend: SessionStoreBackend) -> None:
    await _save_for(backend, "alice", tenant_id="acme", n=3)
    globex = await _save_for(backend, "alice", tenant_id="globex", n=2)
    untenanted = await _save_for(backend, "bob", n=1)
    assert await backend.clear_all_sessions(tenant_id="acme") == 3
    remaining = {r.id for r in await backend.dump_all_sessions()}
    assert remaining == set(globex + untenanted)


async def test_clear_all_on_an_empty_store_returns_zero(backend: SessionStoreBackend) -> None:
    progress: list[int] = []
    assert await backend.clear_all_sessions(on_progress=progress.append) == 0
    assert progress == []


async def test_clear_all_works_in_batches_and_reports_progress(
    backend: SessionStoreBackend,
) -> None:
    await _save_for(backend, "alice", n=6)
    await _save_for(backend, "bob", tenant_id="acme", n=4)
    progress: list[int] = []
    cleared = await backend.clear_all_sessions(
        tenant_id=None, batch_size=3, on_progress=progress.append
    )
    assert cleared == 10
    assert progress == sorted(progress)
    assert len(set(progress)) == len(progress)  # strictly increasing
    assert len(progress) >= 4  # 10 rows in batches of 3 take at least 4 steps
    assert progress[-1] == 10
    assert (await backend.stats()).total == 0


async def test_clear_all_of_a_tenant_in_batches_counts_only_that_tenant(
    backend: SessionStoreBackend,
) -> None:
    await _save_for(backend, "alice", tenant_id="acme", n=10)
    await _save_for(backend, "bob", tenant_id="globex", n=4)
    progress: list[int] = []
    cleared = await backend.clear_all_sessions(
        tenant_id="acme", batch_size=3, on_progress=progress.append
    )
    assert cleared == 10
    assert progress[-1] == 10
    assert progress == sorted(set(progress))
    assert await backend.count_sessions_for_user("bob", tenant_id="globex") == 4


# -- stats -----------------------------------------------------------------------------------


async def test_stats_counts_live_expired_users_and_tenants(backend: SessionStoreBackend) -> None:
    await _save_for(backend, "alice", tenant_id="acme", n=2)
    await _save_for(backend, "bob", tenant_id="acme", n=1)
    await _save_for(backend, 7, tenant_id="globex", n=1)
    await _save_for(backend, None, n=3)
    await _save_for(backend, "carol", tenant_id="acme", n=2, expired=True)
    stats = await backend.stats()
    assert stats.total == 9
    assert stats.live == 7
    assert stats.expired == 2
    assert stats.distinct_users == 3  # alice, bob, 7; carol's sessions are all expired
    assert stats.per_tenant == {"acme": 3, "globex": 1, None: 3}


async def test_stats_of_an_empty_store_are_zero(backend: SessionStoreBackend) -> None:
    stats = await backend.stats()
    assert (stats.total, stats.live, stats.expired, stats.distinct_users) == (0, 0, 0, 0)
    assert stats.per_tenant == {}


async def test_stats_ignore_far_past_and_count_far_future(backend: SessionStoreBackend) -> None:
    await backend.save(_record({"user_id": "a"}, expiry_date=datetime(2999, 1, 1, tzinfo=UTC)))
    await backend.save(_record({"user_id": "b"}, expiry_date=datetime(1971, 1, 1, tzinfo=UTC)))
    stats = await backend.stats()
    assert (stats.live, stats.expired, stats.distinct_users) == (1, 1, 1)
