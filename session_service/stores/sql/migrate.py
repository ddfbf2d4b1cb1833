"""Run the Alembic revisions from code, safely when several processes start at once.

``alembic upgrade head`` and :meth:`SessionStoreBackend.migrate` both end up in
:func:`run_on_engine` (through the store's ``run_migration``): one connection, one
transaction, and a lock held for its whole length (the database's own: a transaction-scoped
advisory lock on PostgreSQL, ``BEGIN IMMEDIATE``, the file's write lock, on SQLite). The second
process waits, then finds the schema at head and does nothing. The one exception is the
``0005`` revision's rewrite of every id (:mod:`.rehash`): each batch is committed and the lock
taken again, so logins wait for one batch at most.
"""

from __future__ import annotations

import asyncio
import importlib.util
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import await_only

from ...errors import SessionConfigError
from .engine import WRITE_OPTION
from .rehash import RELOCK

_IN_PROCESS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)

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


#: Alembic's words when the version row moved under a migration (see :func:`run_on_engine`).
_RACED = "expected to match one row"
_RACED_ATTEMPTS = 3


async def run_on_engine(engine: AsyncEngine, fn: Step, lock: Lock) -> None:
    """Run ``fn`` in one write transaction on ``engine`` after ``lock`` (several workers
    migrating a brand-new SQLite file at once are fine: see ``.sqlite.engine.enable_wal``).

    The connection is closed afterwards rather than pooled: a migration runs once, often in
    an event loop of its own (``asyncio.run(service.migrate())``), and an aiosqlite connection
    left in the pool of a service never closed would outlive that loop, its thread then
    failing with "Event loop is closed" when the garbage collector reaches it.
    """
    for attempt in range(_RACED_ATTEMPTS):
        try:
            await _run_once(engine, fn, lock)
            return
        except CommandError as exc:
            # A revision that commits in batches (0005) lets go of the lock between them, so
            # another migrator may have moved the version past this one's step meanwhile:
            # Alembic then finds no row to update. Everything committed is idempotent, so
            # running the upgrade again from the version now stored finishes it.
            if _RACED not in str(exc) or attempt == _RACED_ATTEMPTS - 1:
                raise


async def _run_once(engine: AsyncEngine, fn: Step, lock: Lock) -> None:
    # Alembic's ``context``/``op`` are process-wide: one migration at a time per process,
    # also while 0005 has let go of the database's lock between its batches.
    loop = asyncio.get_running_loop()
    in_process = _IN_PROCESS.setdefault(loop, asyncio.Lock())
    async with in_process, engine.execution_options(**{WRITE_OPTION: True}).connect() as conn:
        try:
            await conn.begin()
            await lock(conn)
            # A revision that commits in batches (0005: :mod:`.rehash`) takes the lock again
            # after each commit; what follows the last batch is committed here.
            conn.sync_connection.info[RELOCK] = lambda: await_only(lock(conn))  # type: ignore[union-attr]
            await conn.run_sync(fn)
            await conn.commit()
        finally:
            await conn.invalidate()
