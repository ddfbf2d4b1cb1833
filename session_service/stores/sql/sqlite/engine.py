"""SQLite's SQLAlchemy engine: WAL, a busy timeout, ``BEGIN IMMEDIATE`` for writes, and a
private file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ..engine import DEFAULT_TIMEOUT_SECONDS, WRITE_OPTION


def make_engine(
    url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, **overrides: Any
) -> AsyncEngine:
    """An async engine on the SQLite file of ``url`` (its directory made, private). Opens no
    connection yet; ``timeout`` bounds the busy wait on a lock and a pool checkout."""
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
