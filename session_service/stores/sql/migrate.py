"""Run the Alembic revisions from code, safely when several processes start at once.

``alembic upgrade head`` and :meth:`SessionStoreBackend.migrate` both end up in
:func:`run_locked`: one connection, one transaction, and a lock held for its whole length
(PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE``, the file's write
lock). The second process waits, then finds the schema at head and does nothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ...settings import mask_url, normalize_db_url
from .._errors import translate_errors
from .dialects import MIGRATION_LOCK_KEY, WRITE_OPTION, make_engine


def script_location() -> str:
    """Where the revisions live: ``migrations/`` in a checkout, or the installed copy."""
    # session_service.migrations is mapped onto the top-level migrations/ directory.
    spec = importlib.util.find_spec("session_service.migrations")
    if spec is None or spec.origin is None:
        raise RuntimeError("session_service is installed without its migrations")
    return str(Path(spec.origin).parent)


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    cfg.attributes["connection"] = connection
    return cfg


def revision_on(connection: Connection) -> str | None:
    """The schema's Alembic revision on ``connection`` (``None``: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_on(connection: Connection) -> None:
    """Bring the schema on ``connection`` (already locked, in a transaction) to head."""
    command.upgrade(_alembic_config(connection), "head")


async def run_on_engine(engine: AsyncEngine, fn: Callable[[Connection], None]) -> None:
    """Run ``fn`` in one transaction on ``engine`` while holding the migration lock.

    (Several workers migrating a brand-new SQLite file at once used to lose the race to switch
    it to WAL; connections now tolerate that, see :func:`._dialects.enable_wal`.)

    The connection is closed afterwards rather than pooled: a migration runs once, often in
    an event loop of its own (``asyncio.run(service.migrate())``), and an aiosqlite connection
    left in the pool of a service never closed would outlive that loop, its thread then
    failing with "Event loop is closed" when the garbage collector reaches it.
    """
    async with engine.execution_options(**{WRITE_OPTION: True}).connect() as conn:
        try:
            async with conn.begin():
                if conn.dialect.name == "postgresql":
                    lock = text("SELECT pg_advisory_xact_lock(:key)")
                    await conn.execute(lock, {"key": MIGRATION_LOCK_KEY})
                await conn.run_sync(fn)
        finally:
            await conn.invalidate()


async def run_locked(url: str, fn: Callable[[Connection], None]) -> None:
    """:func:`run_on_engine` with a short-lived engine for ``url`` (the alembic command's way)."""
    kind, normalized = normalize_db_url(url)
    engine = make_engine(kind, normalized)
    try:
        with translate_errors(mask_url(normalized), "migrate"):
            await run_on_engine(engine, fn)
    finally:
        await engine.dispose()
