"""``PgSessionStore``: what PostgreSQL does its own way, for many app instances on many machines.

JSONB data; per-request statements on a private asyncpg pool (:mod:`.driver`, prepared, and
unnamed behind a transaction pooler: :mod:`.pooler`); ``patch`` merged by jsonb operators
(:mod:`.patch`); rows held by ``FOR UPDATE``; statistics on one ``REPEATABLE READ`` snapshot;
migrations and the expiry cleanup under transaction-scoped advisory locks, which a transaction
pooler keeps on one server connection.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import asyncpg
from sqlalchemy import Select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ....records import utcnow
from ....settings import DbPooler, StoreKind
from ....settings.defaults import DEFAULT_DB_POOL_SIZE
from ..._delta import Delta
from ..._errors import translate_errors
from ..._per_user import owner_key
from ..._transfer import StoredSession
from ..driver import Step
from ..schema import sessions_table as T
from ..statements import ROTATE_SQL, extra_sessions_sql
from ..store import SqlSessionStore
from . import patch
from .driver import PgHotPath
from .engine import (
    CLEANUP_LOCK_KEY,
    MIGRATION_LOCK_KEY,
    OWNER_LOCK_CLASS,
    make_engine,
    owner_lock_id,
)
from .transfer import IMPORT_SQL, page_arrays

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
_OWNER_LOCK = text("SELECT pg_advisory_xact_lock(:cls, :owner)")
#: A limited login in one round trip: revision 0008's function takes the owner's lock, moves
#: the row and signs out the extras (``ROTATE_SQL``'s parameters, the limit, the lock's keys).
_LOGIN_CALL = "SELECT session_service_login(" + ", ".join(f"${n}" for n in range(1, 16)) + ")"
#: How long a store that met a schema without that function uses the transaction instead
#: before it looks for the function again (``migrate`` from this store looks at once).
_NO_FUNCTION_SECONDS = 60.0
logger = logging.getLogger("session_service")
#: Without revision 0008 (code deployed before ``migrate``): ``ROTATE_SQL`` and the sign-out
#: of the user's extra sessions (the limit as $13) in one statement; its status counts the
#: rows moved plus the rows signed out (none unless one moved), as the function's result.
_LOGIN_SQL = (
    f"WITH moved AS ({ROTATE_SQL} RETURNING id), gone AS (DELETE FROM {T.name} WHERE "
    f"EXISTS (SELECT 1 FROM moved) AND id IN ({extra_sessions_sql('id <> $1 AND id <> $2')}) "
    "RETURNING id) SELECT 1 FROM moved UNION ALL SELECT 1 FROM gone"
)


class PgSessionStore(SqlSessionStore):
    """Sessions in PostgreSQL (JSONB data, advisory-locked migrations and cleanup)."""

    kind: ClassVar[StoreKind] = "postgres"
    #: The store's ``db.system.name`` in its metrics (docs/operations.md, "Metrics").
    db_system_name: ClassVar[str] = "postgresql"
    _read_sql: ClassVar[str] = patch.READ_SQL

    def __init__(self, url: str, *, pool_size: int = DEFAULT_DB_POOL_SIZE, **options: Any) -> None:
        """``pool_size`` (``SESSION_DB_POOL_SIZE``): the most connections the per-request pool
        of each event loop opens; the rest of ``options`` as for every SQL store."""
        self._pool_size = pool_size
        super().__init__(url, **options)

    def _make_engine(self, url: str, timeout: float, options: dict[str, Any]) -> AsyncEngine:
        return make_engine(url, timeout=timeout, **options)

    async def _import_batch(self, rows: list[tuple[StoredSession, str]]) -> int:
        """A page in one statement (:mod:`.transfer`), not a round of work per row."""
        with translate_errors(self.display_url, "import sessions"):
            async with self._writer.begin() as conn:
                result = await conn.exec_driver_sql(IMPORT_SQL, page_arrays(rows))
                return len(result.all())

    def _make_driver(self, url: str, timeout: float, pooler: DbPooler) -> PgHotPath:
        # Behind a transaction pooler: unnamed statements from the start.
        return PgHotPath(url, self._pool_size, timeout=timeout, unnamed=pooler == "transaction")

    def _patch_statement(
        self, session_id: str, delta: Delta, now: Any, expiry: Any
    ) -> tuple[str, list[Any]] | None:
        return patch.patch_statement(
            session_id, delta, now=now, expiry=expiry, max_bytes=self.max_bytes
        )

    def _compare_sql(self, expiry: bool) -> str:
        return patch.compare_sql(expiry)

    def _hold_rows(self, rows: Select[Any]) -> Select[Any]:
        return rows.with_for_update()  # locked in id order: two callers queue, never deadlock

    async def _one_snapshot(self, conn: AsyncConnection) -> None:
        await conn.execution_options(isolation_level="REPEATABLE READ")

    async def _lock_for_migration(self, conn: AsyncConnection) -> None:
        await conn.execute(_LOCK, {"key": MIGRATION_LOCK_KEY})

    async def _lock_owner(self, conn: AsyncConnection, user_id: str, tenant_id: str | None) -> None:
        """A transaction-scoped advisory lock on (tenant, user): it lives and dies with the
        transaction, so it works behind a transaction pooler too. Two owners whose names hash
        alike only wait for each other. Under ``READ COMMITTED`` the next statement sees every
        write committed before the lock was granted."""
        owner = owner_lock_id(owner_key(user_id, tenant_id))
        await conn.execute(_OWNER_LOCK, {"cls": OWNER_LOCK_CLASS, "owner": owner})

    #: Until when (``time.monotonic``) limited logins skip the function (see ``_limited_login``).
    _no_login_function_until: float = 0.0

    async def migrate(self) -> None:
        await super().migrate()
        self._no_login_function_until = 0.0  # the schema is at head: the function is there

    async def _limited_login(self, move: tuple[Any, ...], limit: int, owner: str) -> bool:
        """One autocommit statement, revision 0008's ``session_service_login``: the owner's
        advisory lock, the move and the sign-out, one round trip like an unlimited login. On
        a schema without it, the same steps as a transaction of three round trips
        (:meth:`_login_steps`), with one log line a minute saying why."""
        if time.monotonic() >= self._no_login_function_until:
            lock = (OWNER_LOCK_CLASS, owner_lock_id(owner))
            try:
                row = await self._hot.fetchrow(_LOGIN_CALL, *move, limit, *lock)
            except asyncpg.UndefinedFunctionError:
                now = time.monotonic()
                if now < self._no_login_function_until:  # a racing login said it already
                    return await super()._limited_login(move, limit, owner)
                self._no_login_function_until = now + _NO_FUNCTION_SECONDS
                logger.warning(
                    "the session schema predates revision 0008_login_function: logins under "
                    "SESSION_MAX_PER_USER take three round trips until `session-service migrate`"
                )
            else:
                # The rows moved plus those signed out (revision 0009; 0008's: moved alone).
                changed = int(row[0]) if row and row[0] else 0
                self._signed_out(changed - 1)
                return changed > 0
        return await super()._limited_login(move, limit, owner)

    def _login_steps(self, move: tuple[Any, ...], limit: int) -> list[Step]:
        """Without revision 0008: one statement after the round trip that takes the owner's
        lock (see :meth:`.driver.PgHotPath.transaction`): the move and the sign-out as
        data-modifying ``WITH`` parts, which share one snapshot, taken after the lock. The
        snapshot shows the row still under its old id ($1), so both ids are left out."""
        return [(_LOGIN_SQL, (*move, limit))]

    async def _delete_expired_as_leader(self, batch_size: int) -> int | None:
        """Every batch's transaction first takes a transaction-scoped advisory lock
        (``pg_try_advisory_xact_lock``), so the lock lives and dies with the transaction that
        deletes: a transaction pooler keeps a transaction on one server connection, nothing is
        ever unlocked on another connection, and a crashed leader's lock is gone the moment its
        transaction is. A batch that finds the lock taken ends this run (another instance is
        cleaning)."""
        cond = T.c.expiry_date <= utcnow()
        return await self._delete_batches(
            cond, batch_size, None, "delete expired sessions", _cleanup_lock
        )


async def _cleanup_lock(conn: AsyncConnection) -> bool:
    return bool(await conn.scalar(_TRY_LOCK, {"key": CLEANUP_LOCK_KEY}))
