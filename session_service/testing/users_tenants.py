"""Sessions by user and by tenant: "sign this user out everywhere", listings, dumps, clearing
everything in batches, and the counts ``session-service stats`` shows.

``tenant_id=None`` in these methods means every tenant; users and tenants never leak into
each other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ..backend import SessionStoreBackend
from ..records import utcnow
from ._harness import ContractCase
from ._records import handles, new_record, save_for


class UserAndTenantRules(ContractCase):
    """Every by-user and by-tenant method, and the statistics."""

    async def test_clear_user_removes_all_of_their_sessions(
        self, backend: SessionStoreBackend
    ) -> None:
        alice = await save_for(backend, "alice", n=3)
        assert await backend.clear_sessions_for_user("alice") == 3
        for sid in alice:
            assert await backend.load(sid) is None
        assert await backend.count_sessions_for_user("alice") == 0

    async def test_clear_user_leaves_other_users_sessions(
        self, backend: SessionStoreBackend
    ) -> None:
        await save_for(backend, "alice", n=2)
        bob = await save_for(backend, "bob", n=2)
        anonymous = await save_for(backend, None, n=2)
        assert await backend.clear_sessions_for_user("alice") == 2
        for sid in bob + anonymous:
            assert await backend.load(sid) is not None
        assert set(await backend.get_session_ids_for_user("bob")) == set(
            await handles(backend, bob)
        )

    async def test_clear_user_accepts_an_int_for_a_str_stored_user(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        await save_for(backend, "42", n=1)
        await save_for(backend, 42, n=1)
        await save_for(backend, "420", n=1)
        assert await backend.clear_sessions_for_user(42) == 2
        assert await backend.count_sessions_for_user("420") == 1

    async def test_clear_user_of_unknown_user_returns_zero(
        self, backend: SessionStoreBackend
    ) -> None:
        await save_for(backend, "alice", n=1)
        assert await backend.clear_sessions_for_user("nobody") == 0
        assert await backend.count_sessions_for_user("alice") == 1

    async def test_clear_user_counts_expired_rows_it_removes_too(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        await save_for(backend, "alice", n=2)
        await save_for(backend, "alice", n=1, expired=True)
        assert await backend.clear_sessions_for_user("alice") == 3
        assert (await backend.stats()).total == 0

    async def test_clear_user_in_one_tenant_leaves_their_other_tenants(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        await save_for(backend, "alice", tenant_id="acme", n=2)
        globex = await save_for(backend, "alice", tenant_id="globex", n=1)
        untenanted = await save_for(backend, "alice", n=1)
        assert await backend.clear_sessions_for_user("alice", tenant_id="acme") == 2
        assert await backend.count_sessions_for_user("alice", tenant_id="acme") == 0
        assert await backend.get_session_ids_for_user("alice", tenant_id="globex") == await handles(
            backend, globex
        )
        assert set(await backend.get_session_ids_for_user("alice")) == set(
            await handles(backend, globex + untenanted)
        )

    async def test_clear_user_without_tenant_clears_every_tenant(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        await save_for(backend, "alice", tenant_id="acme", n=1)
        await save_for(backend, "alice", tenant_id="globex", n=1)
        await save_for(backend, "alice", n=1)
        bob = await save_for(backend, "bob", tenant_id="acme", n=1)
        assert await backend.clear_sessions_for_user("alice") == 3
        assert await backend.get_session_ids_for_user("bob") == await handles(backend, bob)

    async def test_clear_user_untenanted_only_leaves_their_tenants_and_other_users(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        """``untenanted_only=True``: the user's sessions without a tenant, expired ones included
        (as every clear counts them), and nothing else."""
        untenanted = await save_for(backend, "alice", n=2)
        await save_for(backend, "alice", n=1, expired=True)
        t1 = await save_for(backend, "alice", tenant_id="t1", n=1)
        bob = await save_for(backend, "bob", n=1)
        assert await backend.clear_sessions_for_user("alice", untenanted_only=True) == 3
        for sid in untenanted:
            assert await backend.load(sid) is None
        assert await backend.get_session_ids_for_user("alice") == await handles(backend, t1)
        assert await backend.get_session_ids_for_user("bob") == await handles(backend, bob)
        assert await backend.clear_sessions_for_user("alice", untenanted_only=True) == 0

    async def test_clear_user_untenanted_only_keeps_an_untenanted_session(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        """``keep`` composes as with a tenant: it must be a live session of that user *in that
        scope* (here: without a tenant), else nothing is deleted."""
        mine, other = await save_for(backend, "alice", n=2)
        t1 = await save_for(backend, "alice", tenant_id="t1", n=1)
        assert await backend.clear_sessions_for_user("alice", untenanted_only=True, keep=t1[0]) == 0
        assert await backend.load(other) is not None
        assert await backend.clear_sessions_for_user("alice", untenanted_only=True, keep=mine) == 1
        assert await backend.load(other) is None
        assert set(await backend.get_session_ids_for_user("alice")) == set(
            await handles(backend, [mine, *t1])
        )

    async def test_clear_user_untenanted_only_refuses_a_tenant(
        self, backend: SessionStoreBackend
    ) -> None:
        """Only the sessions without a tenant, yet in tenant ``t1``: a contradiction, refused."""
        t1 = await save_for(backend, "alice", tenant_id="t1", n=1)
        with pytest.raises(ValueError, match="untenanted_only"):
            await backend.clear_sessions_for_user("alice", tenant_id="t1", untenanted_only=True)
        assert await backend.get_session_ids_for_user("alice") == await handles(backend, t1)

    async def test_user_with_many_sessions_has_them_all_listed(
        self, backend: SessionStoreBackend
    ) -> None:
        alice = await save_for(backend, "alice", n=5)
        await save_for(backend, "bob", n=2)
        assert await backend.count_sessions_for_user("alice") == 5
        ids = await backend.get_session_ids_for_user("alice")
        assert sorted(ids) == sorted(await handles(backend, alice))
        assert len(ids) == len(set(ids))

    async def test_unknown_user_has_no_sessions(self, backend: SessionStoreBackend) -> None:
        await save_for(backend, "alice", n=1)
        assert await backend.count_sessions_for_user("nobody") == 0
        assert await backend.get_session_ids_for_user("nobody") == []
        assert await backend.list_sessions_for_user("nobody") == []

    async def test_same_user_id_in_two_tenants_is_two_users(
        self, backend: SessionStoreBackend
    ) -> None:
        acme = await save_for(backend, "alice", tenant_id="acme", n=2)
        globex = await save_for(backend, "alice", tenant_id="globex", n=3)
        assert await backend.count_sessions_for_user("alice", tenant_id="acme") == 2
        assert await backend.count_sessions_for_user("alice", tenant_id="globex") == 3
        assert await backend.count_sessions_for_user("alice") == 5
        assert set(await backend.get_session_ids_for_user("alice", tenant_id="acme")) == set(
            await handles(backend, acme)
        )
        assert set(await backend.get_session_ids_for_user("alice", tenant_id="globex")) == set(
            await handles(backend, globex)
        )
        assert await backend.count_sessions_for_user("alice", tenant_id="initech") == 0

    async def test_list_sessions_for_user_shows_data_and_timestamps(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        before = utcnow()
        record = new_record({"user_id": "alice", "ua": "Firefox"}, tenant_id="acme")
        await backend.save(record)
        await save_for(backend, "bob", n=1)
        [listed] = await backend.list_sessions_for_user("alice")
        assert listed.handle == record.handle and listed.id == ""
        assert listed.data == {"user_id": "alice", "ua": "Firefox"}
        assert listed.user_id == "alice"
        assert listed.tenant_id == "acme"
        assert listed.created_at is not None
        assert listed.created_at.tzinfo is not None
        assert listed.created_at >= before - timedelta(seconds=1)  # clock resolution only
        assert listed.updated_at is not None
        assert await backend.list_sessions_for_user("alice", tenant_id="globex") == []

    async def test_user_listing_is_oldest_first(self, backend: SessionStoreBackend) -> None:
        await save_for(backend, "alice", n=6)
        listed = await backend.list_sessions_for_user("alice")
        created = [r.created_at for r in listed]
        assert None not in created
        assert created == sorted(created)  # type: ignore[type-var]
        assert [r.handle for r in listed] == await backend.get_session_ids_for_user("alice")

    async def test_a_closed_store_is_usable_again(self, backend: SessionStoreBackend) -> None:
        record = new_record({"user_id": "alice"})
        await backend.save(record)
        await backend.close()
        assert await backend.load(record.id) is not None
        assert await backend.count_sessions_for_user("alice") == 1
        await backend.close()
        await backend.save(new_record({"user_id": "alice"}))
        assert await backend.clear_sessions_for_user("alice") == 2

    async def test_tenant_is_kept_on_the_session(self, backend: SessionStoreBackend) -> None:
        record = new_record({"k": 1}, tenant_id="acme")
        await backend.save(record)
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.tenant_id == "acme"

    async def test_dump_shows_every_live_session(self, backend: SessionStoreBackend) -> None:
        live = await save_for(backend, "alice", tenant_id="acme", n=2)
        live += await save_for(backend, None, n=1)
        await save_for(backend, "bob", n=1, expired=True)
        dumped = await backend.dump_all_sessions()
        named = await handles(backend, live)
        assert sorted(r.handle or "" for r in dumped) == sorted(named)
        by_id = {r.handle: r for r in dumped}
        assert by_id[named[0]].data == {"i": 0, "user_id": "alice"}
        assert by_id[named[0]].tenant_id == "acme"

    async def test_dump_of_one_tenant_shows_only_that_tenant(
        self, backend: SessionStoreBackend
    ) -> None:
        acme = await save_for(backend, "alice", tenant_id="acme", n=2)
        await save_for(backend, "alice", tenant_id="globex", n=1)
        await save_for(backend, "alice", n=1)
        dumped = await backend.dump_all_sessions(tenant_id="acme")
        assert sorted(r.handle or "" for r in dumped) == sorted(await handles(backend, acme))
        assert await backend.dump_all_sessions(tenant_id="initech") == []

    async def test_clear_all_removes_every_session(self, backend: SessionStoreBackend) -> None:
        await save_for(backend, "alice", tenant_id="acme", n=2)
        await save_for(backend, None, n=2)
        await save_for(backend, "bob", n=1, expired=True)
        assert await backend.clear_all_sessions() == 5
        assert (await backend.stats()).total == 0

    async def test_clear_all_of_one_tenant_leaves_the_others(
        self, backend: SessionStoreBackend
    ) -> None:
        await save_for(backend, "alice", tenant_id="acme", n=3)
        globex = await save_for(backend, "alice", tenant_id="globex", n=2)
        untenanted = await save_for(backend, "bob", n=1)
        assert await backend.clear_all_sessions(tenant_id="acme") == 3
        remaining = {r.handle for r in await backend.dump_all_sessions()}
        assert remaining == set(await handles(backend, globex + untenanted))

    async def test_clear_all_on_an_empty_store_returns_zero(
        self, backend: SessionStoreBackend
    ) -> None:
        progress: list[int] = []
        assert await backend.clear_all_sessions(on_progress=progress.append) == 0
        assert progress == []

    async def test_clear_all_works_in_batches_and_reports_progress(
        self,
        backend: SessionStoreBackend,
    ) -> None:
        await save_for(backend, "alice", n=6)
        await save_for(backend, "bob", tenant_id="acme", n=4)
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
        self,
        backend: SessionStoreBackend,
    ) -> None:
        await save_for(backend, "alice", tenant_id="acme", n=10)
        await save_for(backend, "bob", tenant_id="globex", n=4)
        progress: list[int] = []
        cleared = await backend.clear_all_sessions(
            tenant_id="acme", batch_size=3, on_progress=progress.append
        )
        assert cleared == 10
        assert progress[-1] == 10
        assert progress == sorted(set(progress))
        assert await backend.count_sessions_for_user("bob", tenant_id="globex") == 4

    async def test_stats_counts_live_expired_users_and_tenants(
        self, backend: SessionStoreBackend
    ) -> None:
        await save_for(backend, "alice", tenant_id="acme", n=2)
        await save_for(backend, "bob", tenant_id="acme", n=1)
        await save_for(backend, 7, tenant_id="globex", n=1)
        await save_for(backend, None, n=3)
        await save_for(backend, "carol", tenant_id="acme", n=2, expired=True)
        stats = await backend.stats()
        assert stats.total == 9
        assert stats.live == 7
        assert stats.expired == 2
        assert stats.distinct_users == 3  # alice, bob, 7; carol's sessions are all expired
        assert stats.per_tenant == {"acme": 3, "globex": 1, None: 3}

    async def test_stats_of_an_empty_store_are_zero(self, backend: SessionStoreBackend) -> None:
        stats = await backend.stats()
        assert (stats.total, stats.live, stats.expired, stats.distinct_users) == (0, 0, 0, 0)
        assert stats.per_tenant == {}

    async def test_stats_ignore_far_past_and_count_far_future(
        self, backend: SessionStoreBackend
    ) -> None:
        await backend.save(
            new_record({"user_id": "a"}, expiry_date=datetime(2999, 1, 1, tzinfo=UTC))
        )
        await backend.save(
            new_record({"user_id": "b"}, expiry_date=datetime(1971, 1, 1, tzinfo=UTC))
        )
        stats = await backend.stats()
        assert (stats.live, stats.expired, stats.distinct_users) == (1, 1, 1)
