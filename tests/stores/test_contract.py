"""The project's four stores through the exported store contract (``session_service.testing``),
as a user's store would run it: one subclass per store kind, each test on a fresh database of
its own (the ``db_url`` fixture: a SQLite file, a PostgreSQL database, a Redis key prefix, a
memory name). The PostgreSQL and Redis classes skip without a server, with the reason, and
fail under ``SESSION_TEST_REQUIRE_PG=1`` / ``SESSION_TEST_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import pytest

from session_service import SessionStore, SessionStoreBackend
from session_service.testing import StoreContractTests


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


@pytest.mark.stores("sqlite")
class TestSqliteStore(_ProjectStore):
    pass


@pytest.mark.stores("postgres")
class TestPostgresStore(_ProjectStore):
    pass


@pytest.mark.stores("redis")
class TestRedisStore(_ProjectStore):
    pass


@pytest.mark.stores("memory")
class TestMemoryStore(_ProjectStore):
    pass
