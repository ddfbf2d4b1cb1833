"""The read cache's write path (``SESSION_CACHE=local``) on a real PostgreSQL and a real
Redis: what the writing process keeps of its own write is what the store holds (no second
read), and two writes of one session at once leave nothing cached that either alone wrote."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta, timezone
from typing import Any

import pytest

from session_service.records import SessionRecord, utcnow

from ..support.cache import count_loads, record, two_processes

pytestmark = pytest.mark.stores("postgres", "redis")


def _seen_by_a_user(rec: SessionRecord | None) -> tuple[Any, ...]:
    """What a request reads of a session (every field a store gives back on a load)."""
    assert rec is not None
    return (
        rec.id, rec.data, rec.expiry_date, rec.user_id, rec.tenant_id, rec.idle_ttl,
        rec.persistent, rec.absolute_expiry, rec.last_seen,
    )  # fmt: skip


PATCHES: dict[str, dict[str, Any]] = {
    "keys set and removed": {"changed": {"n": 2, "m": {"x": [1]}}, "removed": ["theme"]},
    "the owner changes": {"changed": {"user_id": "u2"}, "removed": []},
    "the owner goes": {"changed": {}, "removed": ["user_id"]},
    "the expiry moves": {"changed": {"n": 3}, "removed": [], "expiry_hours": 5},
    "a lifetime of its own": {
        "changed": {"n": 4},
        "removed": [],
        "expiry_hours": 2,
        "lifetime": (7200, True),
    },
}


@pytest.mark.parametrize("how", list(PATCHES))
async def test_a_patch_is_kept_as_the_store_merged_it(db_url: str, how: str) -> None:
    spec = PATCHES[how]
    async with two_processes(db_url) as (a, _b):
        rec = await a.create(record("u1", n=1, theme="dark"))
        assert await a.load(rec.id) is not None
        expiry = None
        if "expiry_hours" in spec:  # given in another zone: read back in UTC
            zone = UTC if how != "the expiry moves" else timezone(timedelta(hours=2))
            expiry = (utcnow() + timedelta(hours=spec["expiry_hours"])).astimezone(zone)
        asked = count_loads(a)
        assert await a.patch(
            rec.id,
            spec["changed"],
            spec["removed"],
            expiry_date=expiry,
            lifetime=spec.get("lifetime"),
        )
        cached = await a.load(rec.id)
        assert asked == []  # served from what a wrote
        assert _seen_by_a_user(cached) == _seen_by_a_user(await a.inner.load(rec.id))


async def test_two_writes_of_one_session_at_once_keep_both(db_url: str) -> None:
    async with two_processes(db_url) as (a, _b):
        rec = await a.create(record("u1", n=1))
        assert await a.load(rec.id) is not None
        done = await asyncio.gather(a.patch(rec.id, {"x": 1}, []), a.patch(rec.id, {"y": 2}, []))
        assert list(done) == [True, True]
        loaded = await a.load(rec.id)
        assert loaded is not None and loaded.data == {"user_id": "u1", "n": 1, "x": 1, "y": 2}
        loaded.data["z"] = 3  # and the one a read kept afterwards is this request's own copy
        again = await a.load(rec.id)
        assert again is not None and "z" not in again.data
