"""Run the Alembic revisions from code, safely when several processes start at once.

``alembic upgrade head`` and :meth:`SessionStoreBackend.migrate` both end up in
:func:`run_on_engine` (through the store's ``run_migration``): one connection, one
transaction, and a lock held for its whole length (the database's own: a transaction-scoped
advisory lock on PostgreSQL, ``BEGIN IMMEDIATE``, the file's write lock, on SQLite). The second
process waits, then finds the schema at head and does nothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...errors import SessionConfigError
from .engine import WRITE_OPTION

#: What runs under the lock: Alembic's upgrade, or the ``alembic`` command's own step.
Step = Callable[[Connection], None]
#: Takes the database's migration lock in a connection's transaction.
Lock = Callable[[AsyncConnection], Awaitable[None]]


def script_location() -> str:
    """Where the revisions live: ``migrations/`` in a checkout, or the installed copy."""
    # session_service.migrations is mapped onto the top-level migrations/ directory.
    spec = importlib.util.find_spec("session_service.migrations")
    if spec is None or spec.origin is None:
        raise SessionConfigError(
            "session_service is installed without its migrations (session_service.migrations): "
            "reinstall the package from its wheel or a checkout"
        )
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


async def run_on_engine(engine: AsyncEngine, fn: Step, lock: Lock) -> None:
    """Run ``fn`` in one write transaction on ``engine`` after ``lock`` (several workers
    migrating a brand-new SQLite file at once are fine: see ``.sqlite.engine.enable_wal``).

    The connection is closed afterwards rather than pooled: a migration runs once, often in
    an event loop of its own (``asyncio.run(service.migrate())``), and an aiosqlite connection
    left in the pool of a service never closed would outlive that loop, its thread then
    failing with "Event loop is closed" when the garbage collector reaches it.
    """
    async with engine.execution_options(**{WRITE_OPTION: True}).connect() as conn:
        try:
            async with conn.begin():
                await lock(conn)
                await conn.run_sync(fn)
        finally:
            await conn.invalidate()
