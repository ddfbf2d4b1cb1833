"""Export and import (``session-service export``/``import``/``copy``): a store's live sessions
leave it as stored and come back whole, so nobody is signed out by a backup or a move.

A store that is not a :class:`~session_service.stores._transfer.TransferStore` skips these
(the CLI refuses to export it, with why). The rules never assume a row's key is its session
id (a store may file a session under a hash of it): they export, empty the store, import, and
load by id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from ..backend import SessionStoreBackend
from ..errors import SessionDataError
from ..limits import Counters, RateLimiter, storage_for
from ..limits.storage import LimitParamsStorage
from ..records import SessionRecord, utcnow
from ..stores._transfer import StoredSession, TransferStore
from ._harness import ContractCase
from ._records import new_record, past

T = TypeVar("T")


def transferable(backend: SessionStoreBackend) -> TransferStore:
    store = backend.store
    if not isinstance(store, TransferStore):
        pytest.skip(f"the {backend.kind!r} store offers no export or import")
    return store


async def flat(batches: AsyncIterator[list[T]]) -> list[T]:
    return [item async for batch in batches for item in batch]


def fields(record: SessionRecord) -> tuple[Any, ...]:
    """Everything of a session that an export must keep."""
    return (
        record.data, record.expiry_date, record.user_id, record.tenant_id, record.created_at,
        record.ip, record.user_agent, record.last_seen, record.handle, record.idle_ttl,
        record.persistent,
    )  # fmt: skip


async def seed(backend: SessionStoreBackend) -> list[SessionRecord]:
    """Three live sessions with every field set one way or another, and an expired one."""
    made = []
    alice = new_record({"user_id": "alice", "cart": [1, "ü"]}, tenant_id="acme")
    alice.ip, alice.user_agent, alice.last_seen = "203.0.113.7", "Firefox", utcnow()
    alice.idle_ttl, alice.persistent = 3600, False
    made.append(await backend.create(alice))
    made.append(await backend.create(new_record({"user_id": 42})))
    made.append(await backend.create(new_record({"anonymous": True})))
    await backend.save(new_record({"user_id": "gone"}, expiry_date=past(minutes=1)))
    return [r for r in [await backend.load(m.id) for m in made] if r is not None]


async def listed(backend: SessionStoreBackend, records: list[SessionRecord]) -> list[Any]:
    """What the devices page shows of each session (handle, times, device fields)."""
    out = []
    for user in sorted({str(r.user_id) for r in records if r.user_id is not None}):
        out += [fields(r) for r in await backend.list_sessions_for_user(user)]
    return out


class TransferRules(ContractCase):
    """``export_sessions``/``import_sessions`` and the limits' and counters' twins."""

    async def test_an_export_holds_every_live_session_and_no_expired_one(
        self, backend: SessionStoreBackend
    ) -> None:
        store = transferable(backend)
        live = await seed(backend)
        batches = [b async for b in store.export_sessions(batch_size=2)]
        assert all(1 <= len(b) <= 2 for b in batches)
        rows = [r for b in batches for r in b]
        assert len(rows) == len(live) == 3
        assert len({r.key for r in rows}) == 3
        assert sorted(r.user_id or "" for r in rows) == ["", "42", "alice"]
        acme = await flat(store.export_sessions(tenant_id="acme"))
        assert [r.user_id for r in acme] == ["alice"]
        assert "key" not in repr(rows[0]) and rows[0].key not in repr(rows[0])

    async def test_an_import_brings_back_every_session_whole(
        self, backend: SessionStoreBackend
    ) -> None:
        store = transferable(backend)
        live = await seed(backend)
        devices = await listed(backend, live)
        rows = await flat(store.export_sessions())
        await backend.clear_all_sessions()
        assert await store.import_sessions(rows) == (3, 0, 0)
        for before in live:
            after = await backend.load(before.id)
            assert after is not None and fields(after) == fields(before)
        assert await listed(backend, live) == devices
        assert await backend.count_sessions_for_user("alice", tenant_id="acme") == 1

    async def test_importing_twice_changes_nothing(self, backend: SessionStoreBackend) -> None:
        store = transferable(backend)
        live = await seed(backend)
        rows = await flat(store.export_sessions())
        assert await store.import_sessions(rows) == (0, 3, 0)  # the store holds them already
        await backend.clear_all_sessions()
        assert (await store.import_sessions(rows)).written == 3
        assert await store.import_sessions(rows) == (0, 3, 0)
        assert await store.import_sessions(rows + rows) == (0, 3, 0)
        assert len(await backend.dump_all_sessions()) == len(live)

    async def test_an_import_never_undoes_a_newer_write(self, backend: SessionStoreBackend) -> None:
        store = transferable(backend)
        [first, *_] = await seed(backend)
        old = await flat(store.export_sessions())
        first.data["cart"] = ["newer"]
        await backend.save(first)
        assert (await store.import_sessions(old)).written == 0
        loaded = await backend.load(first.id)
        assert loaded is not None and loaded.data["cart"] == ["newer"]
        new = await flat(store.export_sessions())
        await backend.clear_all_sessions()
        await store.import_sessions(old)
        assert (await store.import_sessions(new)).written == 1  # the newer row replaces
        loaded = await backend.load(first.id)
        assert loaded is not None and loaded.data["cart"] == ["newer"]

    async def test_the_next_load_after_an_import_reads_the_imported_session(
        self, backend: SessionStoreBackend
    ) -> None:
        """A store that keeps what it read (a read cache) forgets what an import replaced."""
        store = transferable(backend)
        [first, *_] = await seed(backend)
        old = await flat(store.export_sessions())
        first.data["cart"] = ["newer"]
        await backend.save(first)
        new = await flat(store.export_sessions())
        await backend.clear_all_sessions()
        await store.import_sessions(old)
        loaded = await backend.load(first.id)  # what a cache would now hold
        assert loaded is not None and loaded.data["cart"] == [1, "ü"]
        assert (await store.import_sessions(new)).written == 1
        loaded = await backend.load(first.id)
        assert loaded is not None and loaded.data["cart"] == ["newer"]

    async def test_an_import_skips_what_expired_meanwhile(
        self, backend: SessionStoreBackend
    ) -> None:
        store = transferable(backend)
        live = await seed(backend)
        rows = await flat(store.export_sessions())
        await backend.clear_all_sessions()
        late = dataclasses.replace(rows[0], expiry_date=past(seconds=1))
        assert await store.import_sessions([late, *rows[1:]]) == (2, 0, 1)
        assert len(await backend.dump_all_sessions()) == len(live) - 1

    async def test_a_bad_row_is_refused_and_nothing_of_its_batch_is_written(
        self, backend: SessionStoreBackend
    ) -> None:
        store = transferable(backend)
        await seed(backend)
        rows = await flat(store.export_sessions())
        await backend.clear_all_sessions()
        naive = (utcnow() + timedelta(hours=1)).replace(tzinfo=None)
        bad: list[StoredSession] = [
            dataclasses.replace(rows[0], key="a\x00b"),
            dataclasses.replace(rows[0], key=""),
            dataclasses.replace(rows[0], user_id="u" * 256),
            dataclasses.replace(rows[0], expiry_date=naive),
            dataclasses.replace(rows[0], data={"x": float("nan")}),
        ]  # fmt: skip
        for row in bad:
            with pytest.raises(SessionDataError):
                await store.import_sessions([*rows[1:], row])
        assert await backend.dump_all_sessions() == []

    async def test_rate_limits_and_counters_travel_with_their_numbers(
        self, backend: SessionStoreBackend
    ) -> None:
        store = transferable(backend)
        storage = storage_for(backend.store)
        limits, counters = RateLimiter(storage), Counters(storage)
        for _ in range(3):
            await limits.hit("api:alice", limit=5, window=60)
        await counters.add("credits", 7, ttl=600)
        await counters.add("forever", 2)
        logs = await flat(store.export_limits(batch_size=1))
        totals = await flat(store.export_counters(batch_size=1))
        assert [e.key for e in logs] == ["api:alice"] and len(logs[0].hits) == 3
        assert sorted((e.key, e.value) for e in totals) == [("credits", 7), ("forever", 2)]
        assert await store.import_limits(logs) == (0, 1, 0)
        assert await store.import_counters(totals) == (0, 2, 0)  # a total is never added to
        await limits.reset("api:alice")
        await counters.reset("credits")
        await counters.reset("forever")
        assert await store.import_limits(logs) == (1, 0, 0)
        assert await store.import_counters(totals) == (2, 0, 0)
        assert (await limits.peek("api:alice", limit=5, window=60)).remaining == 2
        # a store that keeps no log's numbers (Redis Cluster: docs/stores.md) exports none
        if isinstance(storage, LimitParamsStorage) and logs[0].limit is not None:
            kept = await storage.params("api:alice")
            assert kept is not None and (kept.limit, kept.window_ms) == (5, 60_000)
        assert await counters.get("credits") == 7 and await counters.get("forever") == 2
        assert await store.import_limits(logs) == (0, 1, 0)
        expired = logs[0]._replace(expires_at=1)
        assert await store.import_limits([expired]) == (0, 0, 1)
        await counters.reset("forever")  # no expiry by design: leave nothing behind
