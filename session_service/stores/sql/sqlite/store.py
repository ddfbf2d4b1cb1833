"""``SqliteSessionStore``: what SQLite does its own way, for the processes of one machine.

Per-request statements inline on the event loop (:mod:`.driver`; a writer thread when the file
is locked); ``patch`` merged by ``json_set``/``json_remove`` (:mod:`.patch`); the engine in WAL
mode with ``BEGIN IMMEDIATE`` for writes (:mod:`.engine`), so the file's write lock is what
holds rows, keeps one snapshot, serializes migrations and the cleanup: nothing more to lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ....settings import DbPooler, StoreKind
from ..._delta import Delta
from ..driver import Step
from ..statements import ROTATE_SQL
from ..store import SqlSessionStore
from . import cap, patch
from .driver import SqliteHotPath
from .engine import make_engine


class SqliteSessionStore(SqlSessionStore):
    """Sessions in a SQLite file (WAL mode, busy timeout, ``BEGIN IMMEDIATE`` for writes)."""

    kind: ClassVar[StoreKind] = "sqlite"
    _read_sql: ClassVar[str] = patch.READ_SQL
    _max_per_user: int = 0

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

    @property
    def max_per_user(self) -> int:
        """``SESSION_MAX_PER_USER``; setting it gives the store's connections the trigger
        that keeps it (:mod:`.cap`), or takes it away (``0``)."""
        return self._max_per_user

    @max_per_user.setter
    def max_per_user(self, limit: int) -> None:
        self._max_per_user = limit
        hot = self._hot
        assert isinstance(hot, SqliteHotPath)  # what ``_make_driver`` makes
        hot.set_setup(cap.trigger_setup(limit))

    async def _limited_login(self, move: tuple[Any, ...], limit: int, owner: str) -> bool:
        """One statement, as an unlimited login: the move, whose trigger (:mod:`.cap`) signs
        the least recently used extra session out in the same statement. A user over the
        limit by more than one aborts that statement (nothing written); then the general
        sign-out and the move run in one ``BEGIN IMMEDIATE`` transaction, which holds the
        whole file (``owner`` needs no lock of its own). With metrics, the move's count takes
        in the trigger's (:meth:`.driver.SqliteHotPath.execute_cascading`): the move is one row,
        the rest were signed out."""
        try:
            if self._metrics is None:
                return bool(await self._hot.execute(ROTATE_SQL, *move))
            hot = self._hot
            assert isinstance(hot, SqliteHotPath)  # what ``_make_driver`` makes
            changed = await hot.execute_cascading(ROTATE_SQL, *move)
            self._signed_out(changed - 1)  # nothing moved: nothing signed out
            return changed > 0
        except sqlite3.IntegrityError as exc:
            if str(exc) != cap.OVER_BY_MORE:
                raise  # a taken id: ``_rotate``'s
        steps: list[Step] = [(cap.TRIM_SQL, (*move, limit)), (ROTATE_SQL, move)]
        trimmed, moved = await self._hot.transaction(steps, hold=owner)
        if moved:
            self._signed_out(trimmed)
        return bool(moved)
