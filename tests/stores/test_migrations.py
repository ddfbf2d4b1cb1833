"""Migrations: the schema at head, idempotent, concurrent-safe, and upgrading old tables in place.

The schema is checked by asking each database's own catalog (PostgreSQL's ``pg_indexes`` and
``information_schema``, SQLite's ``PRAGMA``), not SQLAlchemy's metadata, so what is checked is
what the database really has.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from session_service import SessionRecord, SessionStoreBackend, SessionStoreUnavailable
from session_service.records import new_session_id, utcnow

from ..conftest import SCHEMA_HEAD, sql_engine

#: Alembic migrations are about the SQL stores alone.
pytestmark = pytest.mark.stores("sqlite", "postgres")

HEAD = SCHEMA_HEAD
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
COLUMNS = {
    *("id", "data", "expiry_date", "user_id", "tenant_id", "created_at", "updated_at"),
    *("ip", "user_agent", "last_seen", "handle"),
}


# -- catalog helpers -------------------------------------------------------------------------


async def _columns(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = (await conn.execute(text("PRAGMA table_info('sessions')"))).all()
            return {str(r[1]): str(r[2]).lower() for r in rows}
        rows = (
            await conn.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'sessions'"
                )
            )
        ).all()
        return {str(r[0]): str(r[1]).lower() for r in rows}


async def _indexes(engine: AsyncEngine) -> dict[str, list[str]]:
    """Every index on ``sessions`` (including the primary key's) -> its columns, in order."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = [str(r[1]) for r in await conn.execute(text("PRAGMA index_list('sessions')"))]
            found = {}
            for name in names:
                info = (await conn.execute(text(f"PRAGMA index_info('{name}')"))).all()
                found[name] = [str(r[2]) for r in sorted(info, key=lambda r: int(r[0]))]
            return found
        rows = (
            await conn.execute(
                text(
                    "SELECT ix.indexname, a.attname, k.ord "
                    "FROM pg_indexes ix "
                    "JOIN pg_class c ON c.relname = ix.indexname "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = ix.schemaname "
                    "JOIN pg_index i ON i.indexrelid = c.oid "
                    "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
                    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                    "WHERE ix.tablename = 'sessions' AND ix.schemaname = current_schema() "
                    "ORDER BY ix.indexname, k.ord"
                )
            )
        ).all()
        pg_found: dict[str, list[str]] = {}
        for name, column, _ in rows:
            pg_found.setdefault(str(name), []).append(str(column))
        return pg_found


async def _versions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return [
            str(r[0]) for r in await conn.execute(text("SELECT version_num FROM alembic_version"))
        ]


async def _limit_tables(engine: AsyncEngine) -> dict[str, set[str]]:
    """The rate-limit and counter tables (revision 0003) -> their columns and indexes."""

    def read(conn: Any) -> dict[str, set[str]]:
        found = {}
        for table in ("session_limits", "session_counters"):
            inspector = inspect(conn)
            found[table] = {c["name"] for c in inspector.get_columns(table)} | {
                str(ix["name"]) for ix in inspector.get_indexes(table)
            }
        return found

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def _assert_schema_at_head(engine: AsyncEngine) -> None:
    assert await _versions(engine) == [HEAD]
    assert await _limit_tables(engine) == {
        "session_limits": {
            *("key", "hits", "expires_at", "ix_session_limits_expires_at"),
            *("limit_count", "window_ms"),  # revision 0007_limit_params
        },
        "session_counters": {"key", "value", "expires_at", "ix_session_counters_expires_at"},
    }
    columns = await _columns(engine)
    assert set(columns) == COLUMNS
    if engine.dialect.name == "postgresql":
        assert columns["data"] == "jsonb"
        for name in ("expiry_date", "created_at", "updated_at"):
            assert columns[name] == "timestamp with time zone", name
    indexes = list((await _indexes(engine)).values())
    assert any(cols[0] == "user_id" for cols in indexes), indexes
    assert ["expiry_date"] in indexes, indexes
    assert any(cols[0] == "tenant_id" for cols in indexes), indexes
    async with engine.connect() as conn:
        pk = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("sessions"))
    assert pk["constrained_columns"] == ["id"], pk
    assert len(indexes) == len({tuple(c) for c in indexes}), "an index was created twice"


def _record(data: dict[str, Any], **kw: Any) -> SessionRecord:
    return SessionRecord(
        id=new_session_id(), data=data, expiry_date=utcnow() + timedelta(hours=1), **kw
    )


@pytest.fixture
async def unmigrated(db_url: str) -> AsyncIterator[SessionStoreBackend]:
    """A backend on an empty database that nobody has migrated yet."""
    backend = SessionStoreBackend.from_url(db_url)
    try:
        yield backend
    finally:
        await backend.close()


# -- a fresh database ------------------------------------------------------------------------


async def test_migrate_creates_the_schema_at_head(unmigrated: SessionStoreBackend) -> None:
    await unmigrated.migrate()
    await _assert_schema_at_head(sql_engine(unmigrated))


async def test_migrate_twice_changes_nothing_and_keeps_rows(
    unmigrated: SessionStoreBackend,
) -> None:
    await unmigrated.migrate()
    record = _record({"user_id": "alice", "k": [1, 2]}, tenant_id="acme")
    await unmigrated.save(record)
    before = (await _columns(sql_engine(unmigrated)), await _indexes(sql_engine(unmigrated)))
    await unmigrated.migrate()
    await unmigrated.migrate()
    after = (await _columns(sql_engine(unmigrated)), await _indexes(sql_engine(unmigrated)))
    assert after == before
    await _assert_schema_at_head(sql_engine(unmigrated))
    loaded = await unmigrated.load(record.id)
    assert loaded is not None
    assert loaded.data == {"user_id": "alice", "k": [1, 2]}
    assert await unmigrated.count_sessions_for_user("alice", tenant_id="acme") == 1


async def test_migrate_from_a_second_backend_on_a_migrated_database(db_url: str) -> None:
    first = await SessionStoreBackend.connect(db_url)
    second = await SessionStoreBackend.connect(db_url)
    try:
        await first.migrate()
        record = _record({"user_id": "alice"})
        await first.save(record)
        await second.migrate()
        assert await second.load(record.id) is not None
        await _assert_schema_at_head(sql_engine(second))
    finally:
        await first.close()
        await second.close()


async def test_several_backends_migrating_an_empty_database_at_once(db_url: str) -> None:
    # On SQLite the first connections to a brand-new file race to switch it to WAL.
    backends = [SessionStoreBackend.from_url(db_url) for _ in range(4)]
    try:
        await asyncio.gather(*(b.migrate() for b in backends))
        await _assert_schema_at_head(sql_engine(backends[0]))
        record = _record({"user_id": "alice"})
        await backends[0].save(record)
        assert await backends[1].count_sessions_for_user("alice") == 1
    finally:
        for b in backends:
            await b.close()


async def test_alembic_command_and_migrate_agree(
    db_url: str, unmigrated: SessionStoreBackend
) -> None:
    upgrade = [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "-x", f"db_url={db_url}"]
    done = await asyncio.to_thread(
        subprocess.run, [*upgrade, "upgrade", "head"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    await _assert_schema_at_head(sql_engine(unmigrated))
    await unmigrated.migrate()  # finds the schema at head: nothing to do
    await _assert_schema_at_head(sql_engine(unmigrated))


# -- a table made by an older version (no Alembic) -------------------------------------------

# (id, data, naive UTC expiry as the old version stored it, SQLite spelling of that expiry)
_LIVE = datetime(2099, 1, 2, 3, 4, 5, 678901)
_LIVE_T = datetime(2099, 6, 1, 12, 30, 0)
_LIVE_WHOLE = datetime(2099, 3, 3, 3, 3, 3)
_OLD_ROWS: list[tuple[str, str, datetime, str]] = [
    ("old-str", '{"user_id": "alice", "cart": [1, 2], "name": "Zoë"}', _LIVE, "space"),
    ("old-int", '{"user_id": 42, "theme": "dark"}', _LIVE_T, "T"),
    ("old-anon", '{"theme": "light"}', _LIVE_WHOLE, "nofraction"),
    ("old-offset", '{"user_id": "bob"}', _LIVE_T, "offset"),
    ("old-bool", '{"user_id": true}', _LIVE, "space"),
    ("old-expired", '{"user_id": "alice"}', datetime(2001, 1, 1), "space"),
]


def _sqlite_spelling(when: datetime, style: str) -> str:
    if style == "T":
        return when.strftime("%Y-%m-%dT%H:%M:%S")
    if style == "offset":  # the same instant, written in UTC+02:00
        return (when + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    if style == "nofraction":
        return when.strftime("%Y-%m-%d %H:%M:%S")
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


async def _make_old_table(engine: AsyncEngine, data_type: str, *, expired_today: bool) -> None:
    """The seed's shape, by raw SQL: no alembic_version, naive expiry, data as text/json."""
    sqlite = engine.dialect.name == "sqlite"
    expiry_type = "TIMESTAMP WITHOUT TIME ZONE" if not sqlite else "TIMESTAMP"
    rows = list(_OLD_ROWS)
    if expired_today:
        # ISO 'T' spelling a minute ago: as text it sorts after today's ' ' spelling, so
        # unless the upgrade normalizes it, SQLite would think it is still live.
        rows.append(("old-expired-T", '{"user_id": "alice"}', _naive_utc_minute_ago(), "T"))
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE TABLE sessions (id VARCHAR PRIMARY KEY, data {data_type} NOT NULL, "
                f"expiry_date {expiry_type} NOT NULL)"
            )
        )
        for sid, data, when, style in rows:
            expiry: Any = _sqlite_spelling(when, style) if sqlite else when
            value = ":data" if sqlite else f"CAST(:data AS {data_type})"
            await conn.execute(
                text(f"INSERT INTO sessions (id, data, expiry_date) VALUES (:id, {value}, :e)"),
                {"id": sid, "data": data, "e": expiry},
            )


def _naive_utc_minute_ago() -> datetime:
    return (utcnow() - timedelta(minutes=1)).replace(tzinfo=None, microsecond=0)


async def _set_database_timezone(db_url: str, engine: AsyncEngine) -> None:
    """On PostgreSQL, run the upgrade under a far-from-UTC TimeZone setting."""
    if engine.dialect.name != "postgresql":
        return
    name = make_url(db_url).database
    async with engine.begin() as conn:
        await conn.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Kolkata'"))
    await engine.dispose()  # new connections pick the setting up


@pytest.mark.parametrize("data_type", ["text", "json"])
async def test_upgrade_of_an_old_table_keeps_every_row(
    db_url: str, unmigrated: SessionStoreBackend, data_type: str
) -> None:
    engine = sql_engine(unmigrated)
    await _make_old_table(engine, data_type, expired_today=True)
    await _set_database_timezone(db_url, engine)

    await unmigrated.migrate()

    await _assert_schema_at_head(engine)
    stats = await unmigrated.stats()
    assert stats.total == 7
    assert stats.live == 5
    alice = await unmigrated.load("old-str")
    assert alice is not None
    assert alice.data == {"user_id": "alice", "cart": [1, 2], "name": "Zoë"}
    assert alice.user_id == "alice"
    assert alice.expiry_date == _LIVE.replace(tzinfo=UTC)  # naive old values were UTC
    numeric = await unmigrated.load("old-int")
    assert numeric is not None
    assert numeric.user_id == "42"
    assert numeric.expiry_date == _LIVE_T.replace(tzinfo=UTC)
    anonymous = await unmigrated.load("old-anon")
    assert anonymous is not None
    assert anonymous.user_id is None
    assert anonymous.expiry_date == _LIVE_WHOLE.replace(tzinfo=UTC)
    offset = await unmigrated.load("old-offset")
    assert offset is not None
    assert offset.expiry_date == _LIVE_T.replace(tzinfo=UTC)
    # The two expired rows are kept, and read as expired: the 'T' spelling of a minute ago
    # sorts after today's ' ' spelling as text, so only a normalized expiry reads as expired.
    assert stats.expired == 2
    assert await unmigrated.load("old-expired-T") is None


@pytest.mark.parametrize("data_type", ["text", "json"])
async def test_upgrade_backfills_user_ids_so_clear_user_finds_old_sessions(
    unmigrated: SessionStoreBackend, data_type: str
) -> None:
    await _make_old_table(sql_engine(unmigrated), data_type, expired_today=False)
    await unmigrated.migrate()
    assert await unmigrated.count_sessions_for_user("alice") == 1
    [named] = await unmigrated.get_session_ids_for_user("alice")  # named by the listing
    alice = await unmigrated.load("old-str")
    assert alice is not None and alice.handle == named
    assert await unmigrated.count_sessions_for_user(42) == 1
    assert await unmigrated.count_sessions_for_user("42") == 1
    assert await unmigrated.count_sessions_for_user("True") == 0
    assert await unmigrated.count_sessions_for_user("true") == 0
    assert await unmigrated.count_sessions_for_user("bob") == 1
    assert (await unmigrated.stats()).distinct_users == 3
    listed = await unmigrated.list_sessions_for_user("alice")
    assert listed[0].created_at is not None
    assert await unmigrated.clear_sessions_for_user("alice") == 2  # the expired one too
    assert await unmigrated.load("old-str") is None
    assert await unmigrated.load("old-int") is not None


async def test_upgraded_table_takes_new_writes_and_cleanup(
    unmigrated: SessionStoreBackend,
) -> None:
    await _make_old_table(sql_engine(unmigrated), "text", expired_today=True)
    await unmigrated.migrate()
    old = await unmigrated.load("old-anon")
    assert old is not None
    old.data["user_id"] = "carol"
    assert await unmigrated.update(old) is True
    assert await unmigrated.count_sessions_for_user("carol") == 1
    fresh = _record({"user_id": "dave"}, tenant_id="acme")
    await unmigrated.save(fresh)
    assert await unmigrated.count_sessions_for_user("dave", tenant_id="acme") == 1
    clash = _record({"k": 1})
    clash.id = "old-str"
    taken = await unmigrated.create(clash)
    assert taken.id != "old-str"
    kept = await unmigrated.load("old-str")
    assert kept is not None
    assert kept.data["cart"] == [1, 2]
    assert await unmigrated.delete_expired() == 2
    stats = await unmigrated.stats()
    assert (stats.total, stats.expired) == (7, 0)


async def test_two_backends_upgrading_an_old_table_at_once(db_url: str) -> None:
    backends = [SessionStoreBackend.from_url(db_url) for _ in range(3)]
    try:
        await _make_old_table(sql_engine(backends[0]), "text", expired_today=False)
        await asyncio.gather(*(b.migrate() for b in backends))
        await _assert_schema_at_head(sql_engine(backends[0]))
        assert (await backends[1].stats()).total == 6
        assert await backends[2].count_sessions_for_user(42) == 1
        loaded = await backends[2].load("old-str")
        assert loaded is not None
        assert loaded.data["cart"] == [1, 2]
    finally:
        for b in backends:
            await b.close()


async def test_old_row_whose_data_is_not_json_never_breaks_readers(
    unmigrated: SessionStoreBackend,
) -> None:
    engine = sql_engine(unmigrated)
    await _make_old_table(engine, "text", expired_today=False)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE sessions SET data = '{not json' WHERE id = 'old-anon'"))
    if engine.dialect.name == "postgresql":
        # jsonb cannot hold it: the upgrade stops, all or nothing, and says so.
        with pytest.raises(SessionStoreUnavailable, match="migrate"):
            await unmigrated.migrate()
        assert set(await _columns(engine)) == {"id", "data", "expiry_date"}
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM sessions"))).scalar() == 6
        return
    # SQLite keeps the text: the row reads as an empty session, the others are unaffected.
    await unmigrated.migrate()
    corrupt = await unmigrated.load("old-anon")
    assert corrupt is not None
    assert corrupt.data == {}
    assert len(await unmigrated.dump_all_sessions()) == 5
    [named] = await unmigrated.get_session_ids_for_user("alice")  # named by the listing
    alice = await unmigrated.load("old-str")
    assert alice is not None and alice.handle == named
