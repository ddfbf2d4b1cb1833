"""Everything that differs between SQLite and PostgreSQL, in one place.

The stores share all their SQL (SQLAlchemy Core over :data:`schema.sessions_table`); what is
left is how an engine is opened and which ``INSERT … ON CONFLICT`` construct to use. Both
SQLAlchemy dialects spell ``on_conflict_do_update``/``on_conflict_do_nothing`` the same way, so
the store only asks this module for the right ``insert``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from .errors import SessionDataError
from .settings import StoreKind

#: Execution option a store sets on connections that will write. On SQLite it makes the
#: transaction ``BEGIN IMMEDIATE``, so a multi-statement write takes the write lock up front
#: and waits on ``busy_timeout`` instead of failing with "database is locked" half-way.
WRITE_OPTION = "session_service_write"

#: How long a SQLite connection waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000

#: PostgreSQL advisory lock keys (arbitrary constants, unique to this library).
MIGRATION_LOCK_KEY = 0x5E55_0001
CLEANUP_LOCK_KEY = 0x5E55_0002


def make_engine(kind: StoreKind, url: str, **overrides: Any) -> AsyncEngine:
    """An async engine tuned for session traffic on ``kind``. Opens no connection yet."""
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
            # Fail fast when the server is down so the middleware can answer 503 promptly.
            "connect_args": {"timeout": 5, "command_timeout": 30},
        }
        options.update(overrides)
        return create_async_engine(url, **options)
    return _sqlite_engine(url, overrides)


def _sqlite_engine(url: str, overrides: dict[str, Any]) -> AsyncEngine:
    database = make_url(url).database
    assert database
    Path(database).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"poolclass": NullPool} if overrides.pop("nullpool", False) else {}
    options.update(overrides)
    engine = create_async_engine(url, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver (see SQLAlchemy's "Serializable
        # isolation / Savepoints / Transactional DDL" recipe for pysqlite/aiosqlite).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL: readers never block the writer nor each other, across processes.
        cursor.execute("PRAGMA journal_mode = WAL")
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


# -- the hot path: one session by id, straight on the driver ----------------------------------
#
# ``load``/``create``/``save``/``update``/``touch``/``delete`` run the SQL of ``_sql_store`` on
# the driver, one autocommit statement each, without SQLAlchemy's pool checkout, implicit
# BEGIN/COMMIT and statement compilation. Both classes offer ``fetchrow``/``execute`` over the
# same ``$n`` SQL; what differs is marked ``[dialect]``. Nothing is cached but connections, so
# a row deleted by another process is gone for the very next statement.


async def _no_reset(conn: Any) -> None:
    """Pool release hook: hot statements leave no session state (asyncpg still rolls back any
    open transaction first), so skip the reset round trip."""


class PgHotPath:
    """A private asyncpg pool of prepared, autocommit statements (one round trip each)."""

    def __init__(self, url: str, max_size: int = 20) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._max = max_size
        self._pool: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._creating: asyncio.Task[Any] | None = None

    def ts(self, value: datetime) -> Any:  # [dialect] timestamptz takes aware datetimes
        return _aware(value)

    def parse_ts(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    async def _get_pool(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a pool belongs to one event loop
            self._abandon()
            self._loop = loop
        if self._creating is None:
            self._creating = loop.create_task(self._create())
        try:
            self._pool = await asyncio.shield(self._creating)
        except BaseException:
            self._creating = None
            raise
        return self._pool

    async def _create(self) -> Any:
        return await asyncpg.create_pool(
            self._dsn,
            min_size=0,  # no background reconnect attempts (and tracebacks) while PG is down
            max_size=self._max,
            reset=_no_reset,
            timeout=5,  # fail fast when the server is down: the middleware answers 503
            command_timeout=30,
        )

    def _abandon(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
        self._pool, self._creating = None, None

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        pool = self._pool if self._loop is asyncio.get_running_loop() else None
        async with (pool or await self._get_pool()).acquire() as conn:
            row = await conn.fetchrow(sql, *args)
        return None if row is None else tuple(row)

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; returns the number of rows it changed."""
        pool = self._pool if self._loop is asyncio.get_running_loop() else None
        async with (pool or await self._get_pool()).acquire() as conn:
            status: str = await conn.execute(sql, *args)
        return int(status.rsplit(" ", 1)[-1])

    async def close(self) -> None:
        pool, loop = self._pool, self._loop
        if pool is not None and loop is asyncio.get_running_loop():
            self._pool, self._creating = None, None
            await pool.close()
        else:
            self._abandon()


#: Inline SQLite writes between two checkpoints (run on the writer thread, never inline).
SQLITE_CHECKPOINT_EVERY = 1000


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


class SqliteHotPath:
    """Every statement is first tried inline, on a stdlib connection whose ``busy_timeout`` is
    0, so it can never wait on a lock and never blocks the event loop for more than the
    statement itself (tens of µs: a primary-key lookup or one WAL append, no fsync with
    ``synchronous=NORMAL``). A statement that finds the file locked (another process or the
    writer thread is writing, WAL recovery) is retried on one writer thread, which may wait up
    to the busy timeout. Checkpoints, which fsync, also run on that thread: the inline
    connection has automatic checkpoints off and asks the thread for one every
    :data:`SQLITE_CHECKPOINT_EVERY` writes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._since_checkpoint = 0

    def ts(self, value: datetime) -> Any:  # [dialect] SQLite keeps naive-UTC ISO text
        return _aware(value).astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def parse_ts(self, value: Any) -> datetime:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(parsed, datetime)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def _connect(self, busy_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        # Per connection: in WAL mode NORMAL syncs only at checkpoints, FULL on every commit.
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _inline(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = self._connect(0)  # never wait on the event loop
            self._reader.execute("PRAGMA wal_autocheckpoint = 0")
        return self._reader

    def _checkpoint(self) -> None:
        self._write_conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _request_checkpoint(self) -> None:
        self._since_checkpoint = 0
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="session_service-sqlite")
        future = self._thread.submit(self._checkpoint)
        # A failed checkpoint is harmless (the next one catches up); don't let it go unseen.
        future.add_done_callback(_log_checkpoint_failure)

    def _write_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = self._connect(SQLITE_BUSY_TIMEOUT_MS)
            self._writer.execute("PRAGMA journal_mode = WAL")
        return self._writer

    def _in_writer(self, sql: str, args: tuple[Any, ...], fetch: bool) -> Any:
        try:
            cur = self._write_conn().execute(sql.replace("$", "?"), args)  # [dialect] ?NNN
            return cur.fetchall() if fetch else cur.rowcount
        except sqlite3.Error:
            conn, self._writer = self._writer, None
            _close_quietly(conn)
            raise

    def _forget_inline(self) -> None:
        """Drop the inline connection after a failure other than a lock.

        SQLite opens a file it cannot write read-only, and the connection stays read-only
        after the file is writable again (or its directory is back): only a fresh connection
        sees the file as it is now, so the store recovers without a restart.
        """
        conn, self._reader = self._reader, None
        _close_quietly(conn)

    async def _hop(self, sql: str, args: tuple[Any, ...], fetch: bool) -> Any:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="session_service-sqlite")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._in_writer, sql, args, fetch)

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        try:
            # fetchall() ends the statement, so no read snapshot outlives the call.
            rows = self._inline().execute(sql.replace("$", "?"), args).fetchall()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                self._forget_inline()
                raise
            rows = await self._hop(sql, args, True)  # rare (recovery, not yet WAL): may wait
        return tuple(rows[0]) if rows else None

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one write; returns the number of rows it changed."""
        try:
            changed = self._inline().execute(sql.replace("$", "?"), args).rowcount
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                self._forget_inline()
                raise
            return int(await self._hop(sql, args, False))  # locked: wait, off the loop
        self._since_checkpoint += 1
        if self._since_checkpoint >= SQLITE_CHECKPOINT_EVERY:
            self._request_checkpoint()
        return int(changed)

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.shutdown(wait=True)
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None


def _close_quietly(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


def _log_checkpoint_failure(future: Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        logging.getLogger("session_service").warning(
            "SQLite checkpoint failed (the next one will catch up): %s", exc
        )


def hot_path(kind: StoreKind, url: str) -> PgHotPath | SqliteHotPath:
    """The hot path for ``url`` (a normalized URL: SQLite always names a file)."""
    if kind == "postgres":
        return PgHotPath(url)
    database = make_url(url).database
    assert database
    return SqliteHotPath(str(Path(database).expanduser().absolute()))


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise SessionDataError(
            "naive datetimes are ambiguous; pass a timezone-aware datetime (UTC)"
        )
    return value
