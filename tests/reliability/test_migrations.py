"""Migrations under concurrency across processes, on both backends.

Two separate Python processes run ``migrate()`` at the same moment (each imports everything,
says it is ready, and waits on a start gate the test opens for both at once), on an empty
database and on a table made by an old version without Alembic. Both must succeed and leave
exactly one correct schema: ``alembic_version`` holding the single row ``0004``, the expected
columns and indexes, and every old row kept with its owner backfilled.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from session_service import SessionStoreBackend

from ..conftest import SCHEMA_HEAD, sql_engine
from ..support.processes import run_together

#: Alembic migrations are about the SQL stores alone.
pytestmark = pytest.mark.stores("sqlite", "postgres")

PROCESSES = 2
HEAD = SCHEMA_HEAD
COLUMNS = {
    *("id", "data", "expiry_date", "user_id", "tenant_id", "created_at", "updated_at"),
    *("ip", "user_agent", "last_seen", "handle"),
}
INDEXES = {"ix_sessions_user_tenant", "ix_sessions_expiry_date", "ix_sessions_tenant"}

_MIGRATOR = """
import asyncio, sys
from session_service import SessionStoreBackend

async def main(url):
    backend = SessionStoreBackend.from_url(url)
    try:
        await backend.migrate()
    finally:
        await backend.close()

print("ready", flush=True)
sys.stdin.readline()
asyncio.run(main(sys.argv[1]))
print("migrated", flush=True)
"""

FUTURE = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=1)
OLD_ROWS: list[tuple[str, dict[str, Any], str | None]] = [
    ("old-alice", {"user_id": "alice", "cart": [1, 2]}, "alice"),
    ("old-42", {"user_id": 42}, "42"),
    ("old-anon", {"theme": "dark"}, None),
]


def _migrate_in_processes(url: str) -> list[tuple[int, str, str]]:
    """PROCESSES migrators, released together once all are ready."""
    return run_together(_MIGRATOR, [[url]] * PROCESSES)


def _create_old_table(url: str) -> None:
    """The table as the earliest version made it, with rows, and no ``alembic_version``."""
    ddl = "CREATE TABLE sessions (id varchar(40) PRIMARY KEY, data text, expiry_date timestamp)"
    rows = [(sid, json.dumps(data), FUTURE) for sid, data, _ in OLD_ROWS]
    if url.startswith("sqlite"):
        database = make_url(url).database
        assert database
        with sqlite3.connect(database) as conn:
            conn.execute(ddl)
            conn.executemany(
                "INSERT INTO sessions VALUES (?, ?, ?)",
                [(sid, data, when.isoformat(" ")) for sid, data, when in rows],
            )
        conn.close()
        return

    async def create() -> None:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(ddl)
            await conn.executemany("INSERT INTO sessions VALUES ($1, $2, $3)", rows)
        finally:
            await conn.close()

    asyncio.run(create())


async def _schema(url: str) -> tuple[list[str], set[str], set[str]]:
    backend = SessionStoreBackend.from_url(url)
    try:
        async with sql_engine(backend).connect() as conn:
            versions = [
                r[0] for r in await conn.execute(text("SELECT version_num FROM alembic_version"))
            ]

            def shape(sync_conn: Any) -> tuple[set[str], set[str]]:
                insp = inspect(sync_conn)
                columns = {c["name"] for c in insp.get_columns("sessions")}
                indexes = {str(i["name"]) for i in insp.get_indexes("sessions")}
                return columns, indexes

            columns, indexes = await conn.run_sync(shape)
    finally:
        await backend.close()
    return versions, columns, indexes


def _assert_all_succeeded(results: list[tuple[int, str, str]]) -> None:
    for code, out, err in results:
        assert code == 0, err
        assert out.strip() == "migrated"


async def _assert_one_correct_schema(url: str) -> None:
    versions, columns, indexes = await _schema(url)
    assert versions == [HEAD]
    assert columns == COLUMNS
    assert indexes >= INDEXES


async def test_two_processes_migrate_an_empty_database_at_once(db_url: str) -> None:
    results = await asyncio.to_thread(_migrate_in_processes, db_url)
    _assert_all_succeeded(results)
    await _assert_one_correct_schema(db_url)
    backend = SessionStoreBackend.from_url(db_url)
    try:
        assert (await backend.stats()).total == 0
    finally:
        await backend.close()


async def test_two_processes_upgrade_an_old_schema_at_once_and_keep_its_rows(
    db_url: str,
) -> None:
    await asyncio.to_thread(_create_old_table, db_url)
    results = await asyncio.to_thread(_migrate_in_processes, db_url)
    _assert_all_succeeded(results)
    await _assert_one_correct_schema(db_url)
    backend = SessionStoreBackend.from_url(db_url)
    try:
        assert (await backend.stats()).total == len(OLD_ROWS)
        for sid, data, owner in OLD_ROWS:
            record = await backend.load(sid)
            assert record is not None, f"{sid} was lost by the upgrade"
            assert record.data == data
            assert record.user_id == owner
            assert record.expiry_date == FUTURE.replace(tzinfo=UTC)
        assert await backend.count_sessions_for_user("alice") == 1
        assert await backend.count_sessions_for_user(42) == 1
    finally:
        await backend.close()
