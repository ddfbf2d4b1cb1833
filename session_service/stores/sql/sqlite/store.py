"""``SqliteSessionStore``: what SQLite does its own way, for the processes of one machine.

Per-request statements inline on the event loop (:mod:`.driver`; a writer thread when the file
is locked); ``patch`` merged by ``json_set``/``json_remove`` (:mod:`.patch`); the engine in WAL
mode with ``BEGIN IMMEDIATE`` for writes (:mod:`.engine`), so the file's write lock is what
holds rows, keeps one snapshot, serializes migrations and the cleanup: nothing more to lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ....settings import DbPooler, StoreKind
from ..._delta import Delta
from ..driver import Step
from ..schema import sessions_table as T
from ..statements import ROTATE_SQL
from ..store import SqlSessionStore
from . import patch
from .driver import SqliteHotPath
from .engine import make_engine

#: After ``ROTATE_SQL`` (its parameters, and the limit as $13): the extra sessions of the
#: user, never the one logging in ($2), and none if it is not there. The choice of
#: ``extra_sessions_sql`` in SQLite's cheaper spelling: skipping the $13 - 1 most recently used
#: (``LIMIT -1 OFFSET``: no limit) instead of numbering every row, and ``IS`` for the tenant,
#: which the ``(user_id, tenant_id)`` index answers; about 30% less work per sign-out.
_EVICT_SQL = (
    f"DELETE FROM {T.name} WHERE id IN (SELECT id FROM {T.name} WHERE user_id = $5 AND "
    "tenant_id IS $6 AND expiry_date > $7 AND id <> $2 ORDER BY CASE WHEN last_seen > "
    "updated_at THEN last_seen ELSE updated_at END DESC, created_at DESC, id DESC "
    f"LIMIT -1 OFFSET $13 - 1) AND EXISTS (SELECT 1 FROM {T.name} WHERE id = $2)"
)

#: A limited login's first statement: ``ROTATE_SQL``, returning how many other live sessions
#: its user has in its tenant (the moved row under either id aside; no row: nothing moved).
_LOGIN_SQL = ROTATE_SQL + (
    f" RETURNING (SELECT count(*) FROM {T.name} WHERE user_id = $5 AND tenant_id IS $6 "
    "AND expiry_date > $7 AND id <> $1 AND id <> $2)"
)


class SqliteSessionStore(SqlSessionStore):
    """Sessions in a SQLite file (WAL mode, busy timeout, ``BEGIN IMMEDIATE`` for writes)."""

    kind: ClassVar[StoreKind] = "sqlite"
    _read_sql: ClassVar[str] = patch.READ_SQL

    def _make_engine(self, url: str, timeout: float, options: dict[str, Any]) -> AsyncEngine:
        return make_engine(url, timeout=timeout, **options)

    def _make_driver(self, url: str, timeout: float, pooler: DbPooler) -> SqliteHotPath:
        database = make_url(url).database  # a normalized URL always names a file
        assert database
        return SqliteHotPath(str(Path(database).expanduser().absolute()), timeout)

    def _patch_statement(
        self, session_id: str, delta: Delta, now: Any, expiry: Any
    ) -> tuple[str, list[Any]] | None:
        return patch.patch_statement(
            session_id, delta, now=now, expiry=expiry, max_bytes=self.max_bytes
        )

    def _compare_sql(self, expiry: bool) -> str:
        return patch.compare_sql(expiry)

    def _hold_rows(self, rows: Select[Any]) -> Select[Any]:
        return rows  # the transaction's BEGIN IMMEDIATE holds the whole file

    async def _one_snapshot(self, conn: AsyncConnection) -> None:
        return None  # a read transaction of SQLite sees one snapshot already

    async def _lock_for_migration(self, conn: AsyncConnection) -> None:
        return None  # BEGIN IMMEDIATE: the file's write lock, held to the end

    async def _lock_owner(self, conn: AsyncConnection, user_id: str, tenant_id: str | None) -> None:
        return None  # BEGIN IMMEDIATE: the file's write lock, held to the end

    async def _limited_login(self, move: tuple[Any, ...], limit: int, owner: str) -> bool:
        """One statement, like an unlimited login, while the user stays within the limit:
        the move, which also counts the user's other sessions (:data:`_LOGIN_SQL`); above it,
        a second, the sign-out (:data:`_EVICT_SQL`). SQLite runs one write statement at a
        time on the whole file, each on the newest data, so these need no transaction: the
        last login to move counts every login before it, and if that is too many, its own
        sign-out (or one that ran after its move and took its session) sees them all and
        leaves the limit; after that only sign-outs follow."""
        row = await self._hot.write_fetchrow(_LOGIN_SQL, *move)
        if row is None:
            return False
        if int(row[0]) >= limit:
            await self._hot.execute(_EVICT_SQL, *move, limit)
        return True

    def _login_steps(self, move: tuple[Any, ...], limit: int) -> list[Step]:
        """Two statements in the driver's ``BEGIN IMMEDIATE``: the file's write lock holds
        every owner, and the second sees the first's row."""
        args = (*move, limit)
        return [(ROTATE_SQL, move), (_EVICT_SQL, args)]
