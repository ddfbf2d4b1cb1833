"""Through a transaction pooler (``docs/stores.md``, "Behind a connection pooler"): a real
PgBouncer in ``pool_mode = transaction`` in front of the test PostgreSQL, started by a fixture.

PgBouncer before 1.21 (Debian 12 ships 1.18) keeps no prepared statement across transactions,
so a named statement prepared by one transaction is missing (or already taken) in the next.
The store must detect that and carry on (or skip detection with ``SESSION_DB_POOLER``), and
cleanup leadership must hold without session-level locks. Without the ``pgbouncer`` binary the
tests skip with the reason; ``SESSION_TEST_REQUIRE_PGBOUNCER=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from benchmarks import _pgbouncer
from session_service import DefaultSessionService, SessionRecord, SessionStoreBackend
from session_service.errors import SessionConfigError
from session_service.records import new_session_id, utcnow
from session_service.settings import SessionSettings
from session_service.stores.sql.postgres.driver import PgHotPath
from session_service.stores.sql.postgres.engine import CLEANUP_LOCK_KEY

from ..cli.test_cli import ok, run, seed, session, stats
from ..conftest import create_pg_database, drop_pg_database
from ..support.webapp import SECRET

REQUIRE_ENV = "SESSION_TEST_REQUIRE_PGBOUNCER"
WORKERS = 16


@pytest.fixture(scope="module")
def pgbouncer(pg_server_url: str) -> Iterator[tuple[str, int]]:
    """(host, port) of a PgBouncer in transaction mode in front of the test server."""
    if _pgbouncer.binary() is None:
        reason = f"the pooler tests need PgBouncer ({_pgbouncer.INSTALL_HINT})"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    with _pgbouncer.pgbouncer(pg_server_url) as where:
        yield where


@pytest.fixture
def pooled(pgbouncer: tuple[str, int], pg_server_url: str) -> Iterator[tuple[str, str]]:
    """(direct URL, URL through PgBouncer) of a fresh database."""
    direct = create_pg_database(pg_server_url)
    try:
        yield direct, _pgbouncer.through(direct, pgbouncer)
    finally:
        drop_pg_database(direct)


def record(user: str, *, expired: bool = False) -> SessionRecord:
    expiry = utcnow() + timedelta(hours=-1 if expired else 1)
    return SessionRecord(id=new_session_id(), data={"user_id": user}, expiry_date=expiry)


def hot_path(backend: SessionStoreBackend) -> PgHotPath:
    hot = backend.store._hot  # type: ignore[attr-defined]
    assert isinstance(hot, PgHotPath)
    return hot


# -- every operation, many at once --------------------------------------------------------------


@pytest.mark.parametrize("setting", ["none", "transaction"])
async def test_sixteen_workers_through_pgbouncer_have_no_errors(
    pooled: tuple[str, str], setting: str
) -> None:
    _direct, url = pooled
    backend = SessionStoreBackend.from_url(url, pooler=setting)
    await backend.migrate()  # Alembic through the pooler
    errors: list[BaseException] = []

    async def worker(n: int) -> None:
        user = f"user{n}"
        try:
            for _ in range(10):
                rec = await backend.create(record(user))
                loaded = await backend.load(rec.id)
                assert loaded is not None and loaded.user_id == user
                rec.data["n"] = n
                assert await backend.update(rec, extend_expiry=False)
                await backend.save(rec)
                assert await backend.touch(rec.id, rec.expiry_date + timedelta(minutes=1))
                assert await backend.count_sessions_for_user(user) >= 1
            assert await backend.clear_sessions_for_user(user) == 10
        except BaseException as exc:
            errors.append(exc)

    try:
        await asyncio.gather(*(worker(n) for n in range(WORKERS)))
        assert errors == []
        assert (await backend.stats()).total == 0
        # Named statements do not survive the pooler: detected (or set), now unnamed.
        assert hot_path(backend).unnamed
    finally:
        await backend.close()


async def test_a_direct_connection_keeps_named_statements(pg_db_url: str) -> None:
    backend = await SessionStoreBackend.connect(pg_db_url)
    try:
        await backend.migrate()
        rec = await backend.create(record("alice"))
        for _ in range(3):
            assert await backend.load(rec.id) is not None
        assert not hot_path(backend).unnamed  # nothing detected: one Bind per statement
    finally:
        await backend.close()


def test_the_setting_reaches_the_store_and_is_validated(tmp_path: Path) -> None:
    env = {
        "SESSION_DB_URL": "postgresql://u@127.0.0.1:1/none",
        "SESSION_DATA_DIR": str(tmp_path),
        "SESSION_SECRET_KEY": SECRET,
    }
    assert SessionSettings.from_env(env).db_pooler == "none"
    service = DefaultSessionService.from_env({**env, "SESSION_DB_POOLER": "Transaction"})
    assert service.settings.db_pooler == "transaction"
    assert hot_path(service.get_session_store()).unnamed
    with pytest.raises(SessionConfigError, match="SESSION_DB_POOLER must be none or transaction"):
        SessionSettings.from_env({**env, "SESSION_DB_POOLER": "session"})


# -- cleanup leadership -------------------------------------------------------------------------


async def _advisory_locks(direct: str) -> int:
    conn = await asyncpg.connect(
        make_url(direct).set(drivername="postgresql").render_as_string(False)
    )
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND "
            "database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            CLEANUP_LOCK_KEY & 0xFFFFFFFF,
        )
        return count
    finally:
        await conn.close()


async def _open_server_connections(url: str, n: int) -> None:
    """Make PgBouncer open ``n`` server connections (``n`` transactions at once)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    conns = [await asyncpg.connect(dsn, statement_cache_size=0) for _ in range(n)]
    try:
        txs = [conn.transaction() for conn in conns]
        for conn, tx in zip(conns, txs, strict=True):
            await tx.start()
            await conn.execute("SELECT 1")
        for tx in txs:
            await tx.commit()
    finally:
        for conn in conns:
            await conn.close()


async def test_cleanup_from_two_services_alternately_never_finds_the_lock_held(
    pooled: tuple[str, str],
) -> None:
    direct, url = pooled
    first = SessionStoreBackend.from_url(url)
    second = SessionStoreBackend.from_url(url)
    await first.migrate()
    await _open_server_connections(url, 3)
    try:
        for round_ in range(12):
            for _ in range(3):
                await first.save(record(f"old{round_}", expired=True))
            cleaner = first if round_ % 2 == 0 else second
            assert await cleaner.delete_expired_if_leader(batch_size=2) == 3, round_
            assert await _advisory_locks(direct) == 0, round_
    finally:
        await first.close()
        await second.close()


async def test_one_cleaner_at_a_time_and_a_crashed_leader_is_replaced(
    pooled: tuple[str, str],
) -> None:
    direct, url = pooled
    backend = SessionStoreBackend.from_url(url)
    await backend.migrate()
    await backend.save(record("old", expired=True))
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    leader = await asyncpg.connect(dsn, statement_cache_size=0)  # another instance, mid-batch
    try:
        tx = leader.transaction()
        await tx.start()
        assert await leader.fetchval("SELECT pg_try_advisory_xact_lock($1)", CLEANUP_LOCK_KEY)
        assert await backend.delete_expired_if_leader() is None  # it is cleaning, not us
        await tx.commit()
        assert await backend.delete_expired_if_leader() == 1

        # A leader that dies mid-batch: its lock goes with its transaction.
        await backend.save(record("old", expired=True))
        tx = leader.transaction()
        await tx.start()
        pid = await leader.fetchval("SELECT pg_backend_pid()")
        assert await leader.fetchval("SELECT pg_try_advisory_xact_lock($1)", CLEANUP_LOCK_KEY)
        admin = await asyncpg.connect(
            make_url(direct).set(drivername="postgresql").render_as_string(False)
        )
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
        finally:
            await admin.close()
        assert await backend.delete_expired_if_leader() == 1
    finally:
        leader.terminate()
        await backend.close()


# -- the command line ---------------------------------------------------------------------------


def test_every_cli_command_works_through_pgbouncer(pooled: tuple[str, str], tmp_path: Path) -> None:
    direct, url = pooled
    env = {"SESSION_DB_URL": url}

    def cli(*args: str) -> str:
        return ok(run(*args, data_dir=tmp_path, env=env))

    assert "newest schema" in cli("migrate")
    seed(url, session("alice", "t1"), session("alice"), session("bob"))
    seed(url, *(session(f"old{i}", expired=True) for i in range(3)))
    assert json.loads(cli("stats", "--json"))["total"] == 6
    assert json.loads(cli("count-user", "alice", "--json"))["live_sessions"] == 2
    assert len(json.loads(cli("list-user", "alice", "--json"))) == 2
    assert len(json.loads(cli("dump", "--json"))) == 3
    assert cli("cleanup-expired", "--batch-size", "2").strip() == "deleted 3 expired sessions"
    assert cli("clear-user", "alice").strip() == "cleared 2 sessions for user alice"
    assert stats(direct).total == 1
