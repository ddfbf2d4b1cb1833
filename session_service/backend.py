"""``SessionStoreBackend``: pick the store from the URL, then delegate to it.

The service, the CLI and the benchmarks hold a backend, never a concrete store, so the
database is a configuration choice (``SESSION_DB_URL``), not a code change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from ._sql_admin import DEFAULT_BATCH_SIZE, ProgressCallback, StoreStats
from ._sql_store import SqlSessionStore
from .pg_store import PgSessionStore
from .records import SessionRecord
from .settings import StoreKind, normalize_db_url
from .sqlite_store import SqliteSessionStore

_STORES: dict[StoreKind, type[SqlSessionStore]] = {
    "sqlite": SqliteSessionStore,
    "postgres": PgSessionStore,
}


class SessionStoreBackend:
    """The store for a URL, behind one interface. ``.kind`` and ``.store`` say which."""

    def __init__(self, store: SqlSessionStore) -> None:
        self.store = store
        self.kind: StoreKind = store.kind

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """The backend for ``url`` without touching the database (engines connect lazily).

        Raises :class:`SessionConfigError` for a URL that is neither SQLite nor PostgreSQL.
        """
        kind, normalized = normalize_db_url(url, variable="the database URL")
        return cls(_STORES[kind](normalized, **options))

    @classmethod
    async def connect(cls, url: str, **options: Any) -> Self:
        """:meth:`from_url`, then check that the database answers."""
        backend = cls.from_url(url, **options)
        await backend.store.ping()
        return backend

    def __repr__(self) -> str:
        return f"SessionStoreBackend({self.store!r})"

    @property
    def display_url(self) -> str:
        """The database URL with its password masked."""
        return self.store.display_url

    async def ping(self) -> None:
        await self.store.ping()

    async def migrate(self) -> None:
        await self.store.migrate()

    async def close(self) -> None:
        await self.store.close()

    async def create(self, record: SessionRecord) -> SessionRecord:
        return await self.store.create(record)

    async def save(self, record: SessionRecord) -> None:
        await self.store.save(record)

    async def update(self, record: SessionRecord, *, extend_expiry: bool = True) -> bool:
        return await self.store.update(record, extend_expiry=extend_expiry)

    async def touch(self, session_id: str, expiry_date: datetime) -> bool:
        return await self.store.touch(session_id, expiry_date)

    async def rotate(self, old_id: str, record: SessionRecord) -> bool:
        return await self.store.rotate(old_id, record)

    async def load(self, session_id: str) -> SessionRecord | None:
        return await self.store.load(session_id)

    async def delete(self, session_id: str) -> None:
        await self.store.delete(session_id)

    async def clear_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        return await self.store.clear_sessions_for_user(user_id, tenant_id=tenant_id)

    async def clear_all_sessions(
        self,
        *,
        tenant_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        return await self.store.clear_all_sessions(
            tenant_id=tenant_id, batch_size=batch_size, on_progress=on_progress
        )

    async def count_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        return await self.store.count_sessions_for_user(user_id, tenant_id=tenant_id)

    async def get_session_ids_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[str]:
        return await self.store.get_session_ids_for_user(user_id, tenant_id=tenant_id)

    async def list_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[SessionRecord]:
        return await self.store.list_sessions_for_user(user_id, tenant_id=tenant_id)

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]:
        return await self.store.dump_all_sessions(tenant_id=tenant_id)

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int:
        return await self.store.delete_expired(batch_size=batch_size, on_progress=on_progress)

    async def delete_expired_if_leader(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
        return await self.store.delete_expired_if_leader(batch_size=batch_size)

    async def stats(self) -> StoreStats:
        return await self.store.stats()
