"""Expiry cleanup on PostgreSQL: one instance at a time cleans, through an advisory lock.
The expiry rules every store follows are in the store contract
(``session_service.testing.expiry``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.stores.sql.postgres.engine import CLEANUP_LOCK_KEY

from ..conftest import sql_engine


def _record(
    data: dict[str, Any], expiry_date: datetime, tenant_id: str | None = None
) -> SessionRecord:
    return SessionRecord(
        id=new_session_id(), data=data, expiry_date=expiry_date, tenant_id=tenant_id
    )


async def _save(backend: SessionStoreBackend, record: SessionRecord) -> str:
    await backend.save(record)
    return record.id


async def test_cleanup_skips_while_another_instance_is_cleaning(pg_db_url: str) -> None:
    """PostgreSQL only: one SQLite file lives on one machine, where every instance may clean."""
    backend = await SessionStoreBackend.connect(pg_db_url)
    await backend.migrate()
    try:
        await _save(backend, _record({}, utcnow() - timedelta(minutes=1)))
        async with sql_engine(backend).connect() as other_instance:
            lock = {"key": CLEANUP_LOCK_KEY}
            assert await other_instance.scalar(text("SELECT pg_try_advisory_lock(:key)"), lock)
            assert await backend.delete_expired_if_leader() is None
            assert (await backend.stats()).expired == 1
            await other_instance.execute(text("SELECT pg_advisory_unlock(:key)"), lock)
            await other_instance.commit()
        assert await backend.delete_expired_if_leader() == 1
        assert (await backend.stats()).total == 0
    finally:
        await backend.close()
