"""The project's four stores through the exported store contract (``session_service.testing``),
as a user's store would run it: one subclass per store kind, each test on a fresh database of
its own (the ``db_url`` fixture: a SQLite file, a PostgreSQL database, a Redis key prefix, a
memory name). The PostgreSQL and Redis classes skip without a server, with the reason, and
fail under ``SESSION_TEST_REQUIRE_PG=1`` / ``SESSION_TEST_REQUIRE_REDIS=1``. Each class
implements the contract's optional ``age_session`` hook its own store's way.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from session_service import SessionStore, SessionStoreBackend
from session_service.stores.memory import MemorySessionStore
from session_service.stores.redis import RedisSessionStore
from session_service.testing import StoreContractTests

from ..support.lifetime import age_memory_session, age_redis_session, age_sql_session


class _ProjectStore(StoreContractTests):
    """A store built from the test's URL, as the service builds one from ``SESSION_DB_URL``."""

    url: str

    @pytest.fixture(autouse=True)
    def _fresh_database(self, db_url: str) -> None:
        self.url = db_url

    async def make_store(self) -> SessionStore:
        store = SessionStoreBackend.from_url(self.url).store
        await store.migrate()
        return store

    async def make_second_store(self, store: SessionStore) -> SessionStore:
        return SessionStoreBackend.from_url(self.url).store


class _SqlStore(_ProjectStore):
    async def age_session(
        self, backend: SessionStoreBackend, session_id: str, by: timedelta
    ) -> None:
        await age_sql_session(backend, session_id, by)


@pytest.mark.stores("sqlite")
class TestSqliteStore(_SqlStore):
    pass


@pytest.mark.stores("postgres")
class TestPostgresStore(_SqlStore):
    pass


@pytest.mark.stores("redis")
class TestRedisStore(_ProjectStore):
    async def age_session(
        self, backend: SessionStoreBackend, session_id: str, by: timedelta
    ) -> None:
        assert isinstance(backend.store, RedisSessionStore)
        await age_redis_session(backend.store, session_id, by)


@pytest.mark.stores("memory")
class TestMemoryStore(_ProjectStore):
    async def age_session(
        self, backend: SessionStoreBackend, session_id: str, by: timedelta
    ) -> None:
        assert isinstance(backend.store, MemorySessionStore)
        age_memory_session(backend.store, session_id, by)
