"""The store contract (``session_service.testing``) with ``SESSION_CACHE=local`` on
PostgreSQL and Redis: the cached store is a store like any other. Each instance (the test's
and its second) is a cached store with its own channel, as two processes would be; every
test starts once both listen, so hits are in play from the first read."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from session_service import SessionStore, SessionStoreBackend
from session_service.cache import CachedSessionStore
from session_service.stores.redis import RedisSessionStore
from session_service.testing import StoreContractTests
from session_service.testing._records import new_record
from session_service.testing.concurrency import N

from ..support.cache import Heard, cached
from ..support.lifetime import age_redis_session, age_sql_session


class _CachedStore(StoreContractTests):
    url: str

    @pytest.fixture(autouse=True)
    def _fresh_database(self, db_url: str) -> None:
        self.url = db_url

    async def make_store(self) -> SessionStore:
        store = cached(self.url)
        await store.migrate()
        async with asyncio.timeout(10):
            await store.wait_listening()
        return store

    async def make_second_store(self, store: SessionStore) -> SessionStore:
        other = cached(self.url)
        async with asyncio.timeout(10):
            await other.wait_listening()
        return other

    async def test_two_instances_on_one_store_see_each_others_writes(
        self, backend: SessionStoreBackend
    ) -> None:
        """The contract's rule, but a revocation by the other instance (another process's
        push) is seen once it has arrived, not before: the test waits for it. Everything
        else in the rule is as the contract says."""
        first, second = backend, await self.second_instance(backend)
        a = [new_record({"user_id": "alice", "from": "first"}) for _ in range(N // 2)]
        b = [new_record({"user_id": "alice", "from": "second"}) for _ in range(N // 2)]
        await asyncio.gather(*(first.save(r) for r in a), *(second.save(r) for r in b))
        assert await first.count_sessions_for_user("alice") == N
        assert isinstance(first.store, CachedSessionStore)
        heard = Heard(first.store)
        assert await second.clear_sessions_for_user("alice") == N
        await heard.until(a[0].id)
        assert await first.load(a[0].id) is None

    @staticmethod
    def _forget(backend: SessionStoreBackend) -> CachedSessionStore:
        """A change behind every store's back (the test's own ``UPDATE``) is no revocation:
        it shows within SESSION_CACHE_MAX_AGE_SECONDS; here, at once."""
        store = backend.store
        assert isinstance(store, CachedSessionStore)
        store.cache.clear()
        return store


@pytest.mark.stores("postgres")
class TestCachedPostgresStore(_CachedStore):
    async def age_session(
        self, backend: SessionStoreBackend, session_id: str, by: timedelta
    ) -> None:
        store = self._forget(backend)
        await age_sql_session(SessionStoreBackend(store.inner), session_id, by)


@pytest.mark.stores("redis")
class TestCachedRedisStore(_CachedStore):
    async def age_session(
        self, backend: SessionStoreBackend, session_id: str, by: timedelta
    ) -> None:
        store = self._forget(backend)
        assert isinstance(store.inner, RedisSessionStore)
        await age_redis_session(store.inner, session_id, by)
