"""Many writers at once lose nothing, and the guarantees that need atomic operations hold:
creates forced onto one id never overwrite each other, a login (``rotate``) racing "sign this
user out everywhere" never leaves a session behind, and logins racing a clear leave the
indexes exact."""

from __future__ import annotations

import asyncio

from ..backend import SessionStoreBackend
from ..records import SessionRecord, new_session_id
from ._harness import ContractCase
from ._records import handles, new_record

N = 200


def _rounds(backend: SessionStoreBackend) -> int:
    # 1,000 where a round is cheap (Redis: two scripts; memory); a SQL store pays a
    # transaction each, so 100 there and for a store of unknown kind.
    return {"redis": 1000, "memory": 1000}.get(backend.kind, 100)


class ConcurrencyRules(ContractCase):
    """Concurrent tasks on one instance, and two instances on one store."""

    async def test_concurrent_saves_to_distinct_sessions_lose_nothing(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        records = [new_record({"i": i, "payload": "x" * (i % 50)}) for i in range(N)]
        await asyncio.gather(*(backend.save(r) for r in records))
        assert (await backend.stats()).total == N
        loaded = await asyncio.gather(*(backend.load(r.id) for r in records))
        assert [r.data if r else None for r in loaded] == [r.data for r in records]

    async def test_concurrent_saves_for_one_user_are_all_counted(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        records = [new_record({"user_id": "alice", "i": i}) for i in range(N)]
        await asyncio.gather(*(backend.save(r) for r in records))
        assert await backend.count_sessions_for_user("alice") == N
        assert set(await backend.get_session_ids_for_user("alice")) == {r.handle for r in records}
        assert await backend.clear_sessions_for_user("alice") == N
        assert (await backend.stats()).total == 0

    async def test_concurrent_creates_with_one_id_keep_every_session(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        shared = new_session_id()
        records = [new_record({"i": i}, sid=shared) for i in range(20)]
        created = await asyncio.gather(*(backend.create(r) for r in records))
        ids = [r.id for r in created]
        assert len(set(ids)) == 20
        assert shared in ids
        assert (await backend.stats()).total == 20
        for record in created:
            loaded = await backend.load(record.id)
            assert loaded is not None
            assert loaded.data == record.data

    async def test_concurrent_saves_of_one_session_leave_one_whole_version(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        sid = new_session_id()
        versions = [{"user_id": f"user-{i}", "i": i, "blob": [i] * 20} for i in range(50)]
        await asyncio.gather(*(backend.save(new_record(v, sid=sid)) for v in versions))
        loaded = await backend.load(sid)
        assert loaded is not None
        assert loaded.data in versions
        assert loaded.user_id == loaded.data["user_id"]  # column and data from the same write
        assert (await backend.stats()).total == 1
        assert await backend.count_sessions_for_user(loaded.data["user_id"]) == 1

    async def test_two_instances_on_one_store_see_each_others_writes(
        self, backend: SessionStoreBackend
    ) -> None:
        first, second = backend, await self.second_instance(backend)
        a = [new_record({"user_id": "alice", "from": "first"}) for _ in range(N // 2)]
        b = [new_record({"user_id": "alice", "from": "second"}) for _ in range(N // 2)]
        await asyncio.gather(*(first.save(r) for r in a), *(second.save(r) for r in b))
        assert await first.count_sessions_for_user("alice") == N
        assert await second.clear_sessions_for_user("alice") == N
        assert await first.load(a[0].id) is None

    async def test_clear_user_while_saving_leaves_only_sessions_saved_after(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        before = [new_record({"user_id": "alice", "i": i}) for i in range(50)]
        await asyncio.gather(*(backend.save(r) for r in before))
        during = [new_record({"user_id": "alice", "j": i}) for i in range(50)]
        results = await asyncio.gather(
            backend.clear_sessions_for_user("alice"), *(backend.save(r) for r in during)
        )
        cleared = results[0]
        assert isinstance(cleared, int)
        assert 50 <= cleared <= 100
        remaining = set(await backend.get_session_ids_for_user("alice"))
        assert remaining <= {r.handle for r in during}
        assert len(remaining) == 100 - cleared
        for record in before:
            assert await backend.load(record.id) is None

    async def test_creates_forced_onto_one_id_keep_every_session(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        shared = new_session_id()
        records = [new_record({"i": i}, sid=shared) for i in range(200)]
        created = await asyncio.gather(*(backend.create(r) for r in records))
        ids = [r.id for r in created]
        assert len(set(ids)) == 200 and shared in ids
        loaded = await asyncio.gather(*(backend.load(sid) for sid in ids))
        assert [r.data if r else None for r in loaded] == [{"i": i} for i in range(200)]
        assert (await backend.stats()).live == 200

    async def test_rotate_racing_clear_user_never_leaves_a_session(
        self, backend: SessionStoreBackend
    ) -> None:
        for _ in range(_rounds(backend)):
            old = new_record({"user_id": "alice"})
            await backend.save(old)
            new = new_record({"user_id": "alice", "logged_in": True})
            rotated, cleared = await asyncio.gather(
                backend.rotate(old.id, new), backend.clear_sessions_for_user("alice")
            )
            assert cleared == 1  # the session, under its old id or its new one
            assert await backend.load(old.id) is None
            assert await backend.load(new.id) is None, f"rotated={rotated} survived the clear"
            assert await backend.count_sessions_for_user("alice") == 0

    async def test_fifty_logins_racing_a_clear_leave_exact_indexes(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        logins = [new_record({"user_id": "bob", "i": i}) for i in range(50)]

        async def log_in(record: SessionRecord) -> SessionRecord:
            anonymous = new_record({"cart": [1]})
            await backend.create(anonymous)
            assert await backend.rotate(anonymous.id, record)
            return record

        clearing = asyncio.ensure_future(backend.clear_sessions_for_user("bob"))
        await asyncio.gather(*(log_in(r) for r in logins))
        cleared = await clearing
        alive = [r.id for r in logins if await backend.load(r.id) is not None]
        assert cleared + len(alive) == 50
        assert sorted(await backend.get_session_ids_for_user("bob")) == sorted(
            await handles(backend, alive)
        )
        assert await backend.count_sessions_for_user("bob") == len(alive)
        assert await backend.clear_sessions_for_user("bob") == len(alive)
