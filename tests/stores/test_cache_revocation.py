"""The read cache (``SESSION_CACHE=local``, ``docs/stores.md`` "A read cache in each
process") on a real PostgreSQL and a real Redis: two cached stores on one database stand for
two processes, each with its own channel connection. Every way a session ends reaches the
other one, and it then never serves that session again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from session_service.cache import CachedSessionStore
from session_service.records import new_session_id, utcnow
from session_service.storable import at_rest_id

from ..support.cache import Heard, count_loads, record, two_processes

pytestmark = pytest.mark.stores("postgres", "redis")

Revoke = Callable[[CachedSessionStore, Any], Awaitable[None]]


async def _delete(a: CachedSessionStore, rec: Any) -> None:
    await a.delete(rec.id)


async def _rotate(a: CachedSessionStore, rec: Any) -> None:
    old = rec.id
    rec.id = new_session_id()
    assert await a.rotate(old, rec)
    rec.id = old  # the id the other process must no longer serve


async def _clear_user(a: CachedSessionStore, rec: Any) -> None:
    assert await a.clear_sessions_for_user("u1") == 1


async def _revoke_handle(a: CachedSessionStore, rec: Any) -> None:
    [listed] = await a.list_sessions_for_user("u1")
    assert listed.handle is not None
    assert await a.revoke_user_session("u1", listed.handle)


async def _clear_tenant(a: CachedSessionStore, rec: Any) -> None:
    assert await a.clear_all_sessions(tenant_id="t1") == 1


async def _clear_all(a: CachedSessionStore, rec: Any) -> None:
    assert await a.clear_all_sessions() == 1


async def _expire_by_save(a: CachedSessionStore, rec: Any) -> None:
    rec.expiry_date = utcnow() - timedelta(seconds=1)
    await a.save(rec)


REVOCATIONS: dict[str, Revoke] = {
    "delete": _delete,
    "rotate's old id": _rotate,
    "clear by user": _clear_user,
    "revoke by handle": _revoke_handle,
    "clear a tenant": _clear_tenant,
    "clear everything": _clear_all,
    "a save whose expiry has passed": _expire_by_save,
}


@pytest.mark.parametrize("how", list(REVOCATIONS))
async def test_a_session_revoked_in_one_process_is_never_served_by_the_other(
    db_url: str, how: str
) -> None:
    async with two_processes(db_url) as (a, b):
        rec = await a.create(record("u1", tenant="t1", n=1))
        asked = count_loads(b)
        assert (await b.load(rec.id)) is not None
        assert (await b.load(rec.id)) is not None
        assert asked == [rec.id]  # the second read was a hit
        heard = Heard(b)
        await REVOCATIONS[how](a, rec)
        await heard.until(rec.id)
        assert await b.load(rec.id) is None
        assert await a.load(rec.id) is None  # and the revoking process at once


async def test_max_per_user_evictions_reach_the_other_process(db_url: str) -> None:
    async with two_processes(db_url, SESSION_MAX_PER_USER="1") as (a, b):
        first = await a.create(record("u1"))
        assert await b.load(first.id) is not None  # cached in b
        heard = Heard(b)
        await a.create(record("u1"))  # signs out the first
        await heard.until(first.id)
        assert await b.load(first.id) is None
        assert await a.load(first.id) is None


async def test_a_fill_that_raced_a_revocation_is_dropped(db_url: str) -> None:
    """A read that started before a revocation was heard may return what it read, but never
    keeps it: the next read asks the store (a generation counter)."""
    async with two_processes(db_url) as (a, b):
        rec = await a.create(record("u1"))
        inner: Any = b.inner
        real = inner.load
        heard = Heard(b)

        async def read_then_revoke(session_id: str) -> Any:
            found = await real(session_id)
            await a.delete(session_id)  # lands while b's read is in flight
            await heard.until(session_id)
            return found

        inner.load = read_then_revoke
        assert await b.load(rec.id) is not None  # read before the delete: fine to return
        inner.load = real
        assert await b.load(rec.id) is None  # but not kept


async def test_each_read_gets_its_own_copy(db_url: str) -> None:
    async with two_processes(db_url) as (a, b):
        rec = await a.create(record("u1", nested={"list": [1]}))
        first = await b.load(rec.id)
        assert first is not None
        first.data["nested"]["list"].append(2)
        first.data["new"] = True
        second = await b.load(rec.id)
        assert second is not None and second.data == {"user_id": "u1", "nested": {"list": [1]}}
        second.expiry_date = utcnow()
        third = await b.load(rec.id)
        assert third is not None and third.expiry_date > utcnow()


async def test_the_writer_reads_its_own_writes_without_a_round_trip(db_url: str) -> None:
    async with two_processes(db_url) as (a, _b):
        rec = await a.create(record("u1", n=1))
        asked = count_loads(a)
        loaded = await a.load(rec.id)  # a new session's start is the store's: read once
        assert loaded is not None and loaded.data["n"] == 1
        assert asked == [rec.id]
        asked.clear()
        assert await a.patch(rec.id, {"n": 2, "m": 3}, ["user_id"])
        after = await a.load(rec.id)
        assert after is not None and after.data == {"n": 2, "m": 3} and after.user_id is None
        later = utcnow() + timedelta(hours=5)
        assert await a.touch(rec.id, later)
        touched = await a.load(rec.id)
        assert touched is not None and touched.expiry_date == later
        touched.data["n"] = 4
        assert await a.update(touched)
        updated = await a.load(rec.id)
        assert updated is not None and updated.data["n"] == 4
        assert asked == []  # every read above was served from what a wrote
        stored = await a.inner.load(rec.id)
        assert stored is not None and stored.data == {"n": 4, "m": 3}


async def test_entries_are_bounded_in_number_and_age(db_url: str) -> None:
    async with two_processes(db_url, SESSION_CACHE_MAX_ENTRIES="2") as (a, b):
        now = [0.0]
        b.cache.clock = lambda: now[0]
        recs = [await a.create(record(f"u{i}")) for i in range(3)]
        for rec in recs:
            await b.load(rec.id)
        assert len(b.cache) == 2
        asked = count_loads(b)
        await b.load(recs[2].id)
        assert asked == []  # the newest is kept
        now[0] += b.cache.max_age + 0.01
        await b.load(recs[2].id)
        assert asked == [recs[2].id]  # too old: read again


async def test_a_write_elsewhere_shows_within_max_age(db_url: str) -> None:
    """Writes (not revocations) by another process may lag by SESSION_CACHE_MAX_AGE_SECONDS."""
    async with two_processes(db_url) as (a, b):
        now = [0.0]
        b.cache.clock = lambda: now[0]
        rec = await a.create(record("u1", n=1))
        assert (await b.load(rec.id)).data["n"] == 1  # type: ignore[union-attr]
        assert await a.patch(rec.id, {"n": 2}, [])
        now[0] += b.cache.max_age + 0.01
        assert (await b.load(rec.id)).data["n"] == 2  # type: ignore[union-attr]


async def test_expiry_cleanup_notifies_nothing(db_url: str) -> None:
    """An expired session is never served from the cache, so removing it tells nobody."""
    async with two_processes(db_url) as (a, b):
        heard = Heard(b)
        for _ in range(3):
            gone = record("u1")
            gone.expiry_date = utcnow() - timedelta(seconds=5)
            await a.save(gone)
        assert await a.delete_expired() >= 3
        marker = await a.create(record("u2"))
        await a.delete(marker.id)  # notifications arrive in order: this one comes last
        await heard.until(marker.id)
        assert heard.keys == [[at_rest_id(marker.id)]]
