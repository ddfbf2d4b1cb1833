"""Expiry: an expired session is gone for every reader at once, stays stored until
``delete_expired`` removes it, and no write brings it back. Expired sessions are made by
saving a past ``expiry_date``, never by waiting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ..backend import SessionStoreBackend
from ..records import SessionRecord, new_session_id
from ._harness import ContractCase
from ._records import future, handles, past


def new_record(
    data: dict[str, object], expiry_date: datetime, tenant_id: str | None = None
) -> SessionRecord:
    return SessionRecord(
        id=new_session_id(), data=dict(data), expiry_date=expiry_date, tenant_id=tenant_id
    )


async def _save(backend: SessionStoreBackend, record: SessionRecord) -> str:
    await backend.save(record)
    return record.id


class ExpiryRules(ContractCase):
    """Readers skip expired sessions; cleanup deletes exactly them, in batches."""

    async def test_expired_session_does_not_load(self, backend: SessionStoreBackend) -> None:
        sid = await _save(backend, new_record({"k": 1}, past(seconds=1)))
        assert await backend.load(sid) is None

    async def test_expired_session_is_still_stored_until_cleanup(
        self, backend: SessionStoreBackend
    ) -> None:
        await _save(backend, new_record({"k": 1}, past(minutes=1)))
        stats = await backend.stats()
        assert (stats.total, stats.live, stats.expired) == (1, 0, 1)

    async def test_expired_sessions_are_not_counted_or_listed_for_the_user(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        live = await _save(backend, new_record({"user_id": "alice"}, future(hours=1)))
        await _save(backend, new_record({"user_id": "alice"}, past(seconds=1)))
        await _save(backend, new_record({"user_id": "alice"}, past(days=400)))
        assert await backend.count_sessions_for_user("alice") == 1
        assert await backend.get_session_ids_for_user("alice") == await handles(backend, [live])
        assert [r.handle for r in await backend.list_sessions_for_user("alice")] == await handles(
            backend, [live]
        )

    async def test_expired_sessions_are_not_dumped(self, backend: SessionStoreBackend) -> None:
        live = await _save(backend, new_record({"k": 1}, future(minutes=1), tenant_id="acme"))
        await _save(backend, new_record({"k": 2}, past(minutes=1), tenant_id="acme"))
        assert [r.handle for r in await backend.dump_all_sessions()] == await handles(
            backend, [live]
        )
        assert [
            r.handle for r in await backend.dump_all_sessions(tenant_id="acme")
        ] == await handles(backend, [live])

    async def test_delete_expired_removes_exactly_the_expired(
        self, backend: SessionStoreBackend
    ) -> None:
        live = [
            await _save(backend, new_record({"user_id": "alice"}, future(seconds=30))),
            await _save(backend, new_record({}, future(days=14))),
            await _save(backend, new_record({"t": 1}, datetime(2999, 1, 1, tzinfo=UTC))),
        ]
        for days in (0.0001, 1, 30, 3650):
            await _save(backend, new_record({"user_id": "alice"}, past(days=days)))
        assert await backend.delete_expired() == 4
        stats = await backend.stats()
        assert (stats.total, stats.expired) == (3, 0)
        for sid in live:
            assert await backend.load(sid) is not None
        assert await backend.count_sessions_for_user("alice") == 1

    async def test_delete_expired_with_nothing_expired_returns_zero(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        await _save(backend, new_record({}, future(hours=1)))
        progress: list[int] = []
        assert await backend.delete_expired(on_progress=progress.append) == 0
        assert progress == []
        assert (await backend.stats()).total == 1

    async def test_delete_expired_in_batches_reports_progress(
        self, backend: SessionStoreBackend
    ) -> None:
        for i in range(10):
            await _save(backend, new_record({"i": i}, past(minutes=i + 1)))
        keep = [await _save(backend, new_record({"i": i}, future(hours=1))) for i in range(4)]
        progress: list[int] = []
        deleted = await backend.delete_expired(batch_size=3, on_progress=progress.append)
        assert deleted == 10
        assert progress == sorted(set(progress))  # strictly increasing totals
        assert len(progress) >= 4
        assert progress[-1] == 10
        assert sorted(r.handle or "" for r in await backend.dump_all_sessions()) == sorted(
            await handles(backend, keep)
        )

    async def test_delete_expired_in_batches_that_divide_evenly(
        self, backend: SessionStoreBackend
    ) -> None:
        for i in range(9):
            await _save(backend, new_record({"i": i}, past(hours=1)))
        progress: list[int] = []
        assert await backend.delete_expired(batch_size=3, on_progress=progress.append) == 9
        assert progress[-1] == 9
        assert (await backend.stats()).total == 0

    async def test_batched_deletes_refuse_an_empty_batch_and_delete_nothing(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        """A batch size below 1 could never finish: every batched delete refuses it up front."""
        await _save(backend, new_record({"user_id": "a"}, past(hours=1)))
        await _save(backend, new_record({"user_id": "b"}, future(hours=1), tenant_id="t1"))
        for size in (0, -1):
            with pytest.raises(ValueError, match="batch_size must be at least 1"):
                await backend.delete_expired(batch_size=size)
            with pytest.raises(ValueError, match="batch_size must be at least 1"):
                await backend.delete_expired_if_leader(batch_size=size)
            for tenant in (None, "t1"):
                with pytest.raises(ValueError, match="batch_size must be at least 1"):
                    await backend.clear_all_sessions(tenant_id=tenant, batch_size=size)
        stats = await backend.stats()
        assert (stats.total, stats.live) == (2, 1)

    async def test_update_of_an_expired_session_does_not_revive_it(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        record = new_record({"user_id": "alice"}, past(seconds=5))
        await backend.save(record)
        record.expiry_date = future(days=1)
        assert await backend.update(record) is False
        assert await backend.load(record.id) is None
        assert await backend.count_sessions_for_user("alice") == 0

    async def test_touch_of_an_expired_session_does_not_revive_it(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        sid = await _save(backend, new_record({"k": 1}, past(seconds=5)))
        assert await backend.touch(sid, future(days=1)) is False
        assert await backend.load(sid) is None

    async def test_rotate_of_an_expired_session_writes_nothing(
        self, backend: SessionStoreBackend
    ) -> None:
        sid = await _save(backend, new_record({"k": 1}, past(seconds=5)))
        new = new_record({"k": 1, "user_id": "alice"}, future(days=1))
        assert await backend.rotate(sid, new) is False
        assert await backend.load(new.id) is None
        assert await backend.count_sessions_for_user("alice") == 0

    async def test_touch_into_the_past_expires_the_session(
        self, backend: SessionStoreBackend
    ) -> None:
        sid = await _save(backend, new_record({"user_id": "alice"}, future(hours=1)))
        assert await backend.touch(sid, past(seconds=1)) is True
        assert await backend.load(sid) is None
        assert await backend.count_sessions_for_user("alice") == 0
        assert await backend.delete_expired() == 1

    async def test_cleanup_by_the_leader_removes_expired_sessions(
        self, backend: SessionStoreBackend
    ) -> None:
        await _save(backend, new_record({}, past(minutes=1)))
        live = await _save(backend, new_record({}, future(minutes=1)))
        assert await backend.delete_expired_if_leader(batch_size=1) == 1
        assert [r.handle for r in await backend.dump_all_sessions()] == await handles(
            backend, [live]
        )
