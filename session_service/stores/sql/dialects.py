"""Everything that differs between SQLite and PostgreSQL, in one place.

The stores share all their SQL (SQLAlchemy Core over :data:`schema.sessions_table`, and the
hot path's statements in :mod:`._hot_path`); what is left here is how an engine is opened
(SQLite: WAL, busy timeout, ``BEGIN IMMEDIATE`` for writes; PostgreSQL: pool sizes and
timeouts), which ``INSERT … ON CONFLICT`` construct to use (both SQLAlchemy dialects spell it
the same way), and the advisory lock keys. The hot path's per-driver lines are marked
``[dialect]`` in :mod:`._hot_path`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ...settings import StoreKind

#: Execution option a store sets on connections that will write. On SQLite it makes the
#: transaction ``BEGIN IMMEDIATE``, so a multi-statement write takes the write lock up front
#: and waits on ``busy_timeout`` instead of failing with "database is locked" half-way.
WRITE_OPTION = "session_service_write"

#: How long a connection waits on the database (a lock, a statement, a pool checkout) before
#: giving up, unless the store is given ``SESSION_DB_TIMEOUT_SECONDS``.
DEFAULT_TIMEOUT_SECONDS = 5.0

#: PostgreSQL advisory lock keys (arbitrary constants, unique to this library).
MIGRATION_LOCK_KEY = 0x5E55_0001
CLEANUP_LOCK_KEY = 0x5E55_0002


def make_engine(
    kind: StoreKind, url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, **overrides: Any
) -> AsyncEngine:
    """An async engine tuned for session traffic on ``kind``. Opens no connection yet.

    ``timeout`` bounds every wait: PostgreSQL's connect, pool checkout and each statement
    (asyncpg cancels a statement that runs out of time on the server); SQLite's busy wait.
    """
    if kind == "postgres":
        options: dict[str, Any] = {
            # The engine serves admin calls, logins (rotate), migrations and the cleanup; the
            # per-request statements use the hot path's own pool (up to 20). Keeping this one
            # small keeps a process within ~30 connections of PostgreSQL's max_connections.
            "pool_size": 3,
            "max_overflow": 7,
            # Checking a pooled connection first costs little there and keeps "sign out
            # everywhere" from failing once on a connection left dead by a database restart.
            "pool_pre_ping": True,
            "pool_recycle": 1800,
            "pool_timeout": timeout,
            # Fail fast when the server is down or stalled so the middleware answers 503
            # promptly (not server_settings: PgBouncer refuses unknown startup parameters).
            # No prepared statement outlives its statement (unnamed ones, parsed again with
            # every run), so the engine works through any transaction pooler without having
            # to detect one: it serves rare calls, where that costs one round trip each.
            "connect_args": {
                "timeout": timeout,
                "command_timeout": timeout,
                "statement_cache_size": 0,
                "prepared_statement_cache_size": 0,
            },
        }
        options.update(overrides)
        return create_async_engine(url, **options)
    return _sqlite_engine(url, timeout, overrides)


def enable_wal(execute: Callable[[str], Any]) -> None:
    """Put the SQLite file in WAL mode (readers never block the writer nor each other).

    WAL is a property of the file, kept once set. Switching a brand-new file fails at once
    with "database is locked" (without waiting on ``busy_timeout``) while another process is
    switching or migrating it; that process is making the file WAL anyway, so that failure is
    ignored rather than failing this connection.
    """
    try:
        execute("PRAGMA journal_mode = WAL")
    except Exception as exc:  # the driver's OperationalError, through SQLAlchemy's adapter
        if "locked" not in str(exc):
            raise


def create_private_file(path: str | Path) -> None:
    """Create the SQLite file ``path`` with mode 0600 if it does not exist yet.

    SQLite creates a database as 0644 minus the umask (world-readable under the usual 022) and
    gives its ``-wal`` and ``-shm`` files the database file's mode; creating the file first,
    private, keeps every session id in it from other local users. A missing directory is left
    for SQLite to report.
    """
    with contextlib.suppress(FileExistsError, FileNotFoundError, NotADirectoryError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_engine(url: str, timeout: float, overrides: dict[str, Any]) -> AsyncEngine:
    database = make_url(url).database
    assert database
    path = Path(database).expanduser().absolute()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # new directories are private
    nullpool = overrides.pop("nullpool", False)
    # A checkout waits no longer than a lock would (NullPool has no checkout to wait for).
    options: dict[str, Any] = {"poolclass": NullPool} if nullpool else {"pool_timeout": timeout}
    options.update(overrides)
    engine = create_async_engine(url, **options)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _before_connect(*_args: Any) -> None:
        create_private_file(path)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver (see SQLAlchemy's "Serializable
        # isolation / Savepoints / Transactional DDL" recipe for pysqlite/aiosqlite).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        enable_wal(cursor.execute)
        # In WAL mode NORMAL is durable against application crashes and far cheaper than FULL.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        writes = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def insert_for(kind: StoreKind, table: Table) -> PgInsert | SqliteInsert:
    """The dialect's ``INSERT`` that supports ``ON CONFLICT``."""
    return pg_insert(table) if kind == "postgres" else sqlite_insert(table)
