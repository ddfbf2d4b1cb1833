"""The store's admin side: by user, by tenant, everything, expiry cleanup and statistics.

These run through SQLAlchemy Core (they are rare and set-based, unlike the per-request hot
path). Every delete is bounded: ``clear_all_sessions`` and ``delete_expired`` work in batches,
each its own short transaction, so neither holds a long lock on a big table. User and tenant
ids are always bound parameters, compared with ``=`` (never ``LIKE``), so any string is data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import (
    ColumnElement,
    Row,
    RowMapping,
    and_,
    delete,
    false,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from ...devices import new_handle
from ...records import SessionRecord, utcnow
from ...settings import StoreKind
from .._codec import decode_data, storable
from .._errors import translate_errors
from ..protocol import (
    DEFAULT_BATCH_SIZE,
    ProgressCallback,
    StoreStats,
    check_batch_size,
    check_untenanted_only,
)
from .dialects import CLEANUP_LOCK_KEY
from .loop_engine import LoopEngine
from .schema import sessions_table as T

_ROW_COLUMNS = (T.c.id, T.c.data, T.c.expiry_date, T.c.user_id, T.c.tenant_id)
_LISTING_COLUMNS = (
    *_ROW_COLUMNS,
    *(T.c.created_at, T.c.updated_at, T.c.ip, T.c.user_agent, T.c.last_seen, T.c.handle),
)
_TRY_XACT_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


def _matches(column: Any, value: str) -> ColumnElement[bool]:
    """``column = value``, or a condition no row meets when no row can hold ``value``."""
    return column == value if storable(value) else false()


def _record(mapping: RowMapping) -> SessionRecord:
    return SessionRecord(
        id=mapping["id"],
        data=decode_data(mapping["data"]),
        expiry_date=mapping["expiry_date"],
        user_id=mapping["user_id"],
        tenant_id=mapping["tenant_id"],
        created_at=mapping.get("created_at"),
        updated_at=mapping.get("updated_at"),
        ip=mapping.get("ip"),
        user_agent=mapping.get("user_agent"),
        last_seen=mapping.get("last_seen"),
        handle=mapping.get("handle"),
    )


class SqlAdminOps:
    """The admin operations of :class:`~._sql_store.SqlSessionStore` (a mixin: the store
    provides the engine, the write-mode engine and the display URL)."""

    kind: ClassVar[StoreKind]
    display_url: str
    _engines: LoopEngine

    @property
    def _engine(self) -> AsyncEngine:
        return self._engines.engine

    @property
    def _writer(self) -> AsyncEngine:
        return self._engines.writer

    # -- by user, by tenant, everything ----------------------------------------------------

    @staticmethod
    def _owned_by(
        user_id: str | int, tenant_id: str | None, untenanted_only: bool = False
    ) -> ColumnElement[bool]:
        cond = _matches(T.c.user_id, str(user_id))
        if untenanted_only:
            return and_(cond, T.c.tenant_id.is_(None))
        return cond if tenant_id is None else and_(cond, _matches(T.c.tenant_id, tenant_id))

    async def clear_sessions_for_user(
        self,
        user_id: str | int,
        *,
        tenant_id: str | None = None,
        keep: str | None = None,
        untenanted_only: bool = False,
    ) -> int:
        """Delete every session of ``user_id`` (in one tenant, in none with
        ``untenanted_only``, or in all); returns how many.

        ``keep``: the id of the caller's own session ("sign out other devices"), spared, and
        only if it is still a live session of that user: otherwise nothing is deleted, so of
        two devices that press the button at once exactly one stays signed in. The check and
        the delete are one transaction that holds the user's rows (PostgreSQL: locked in id
        order, so two such calls queue instead of deadlocking; SQLite: ``BEGIN IMMEDIATE``).
        """
        check_untenanted_only(tenant_id, untenanted_only)
        owned = self._owned_by(user_id, tenant_id, untenanted_only)
        with translate_errors(self.display_url, "clear a user's sessions"):
            async with self._writer.begin() as conn:
                if keep is not None:
                    if not storable(keep):
                        return 0
                    rows = select(T.c.id, T.c.expiry_date).where(owned).order_by(T.c.id)
                    if self.kind == "postgres":  # [dialect] SQLite's write lock covers it
                        rows = rows.with_for_update()
                    now = utcnow()
                    held = {r.id: r.expiry_date for r in await conn.execute(rows)}
                    if keep not in held or held[keep] <= now:
                        return 0  # the caller was signed out meanwhile: it keeps nobody out
                    owned = and_(owned, T.c.id != keep)
                return int((await conn.execute(delete(T).where(owned))).rowcount)

    async def revoke_user_session(
        self, user_id: str | int, handle: str, *, tenant_id: str | None = None
    ) -> bool:
        """Delete the live session of ``user_id`` named ``handle``; ``False`` if there is none
        (a handle of another user's session, or of an expired one, deletes nothing: the expired
        row is the cleanup's, and signing it out would report a device that was already gone)."""
        stmt = delete(T).where(
            self._owned_by(user_id, tenant_id), _matches(T.c.handle, handle), self._live()
        )
        with translate_errors(self.display_url, "revoke a session"):
            async with self._writer.begin() as conn:
                return bool((await conn.execute(stmt)).rowcount)

    async def count_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        """How many live sessions ``user_id`` has."""
        stmt = select(func.count()).where(self._owned_by(user_id, tenant_id), self._live())
        return int(await self._scalar(stmt, "count a user's sessions"))

    async def get_session_ids_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[str]:
        """The ids of ``user_id``'s live sessions, oldest first."""
        stmt = (
            select(T.c.id)
            .where(self._owned_by(user_id, tenant_id), self._live())
            .order_by(T.c.created_at, T.c.id)
        )
        rows = await self._rows(stmt, "list a user's sessions")
        return [row[0] for row in rows]

    async def list_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[SessionRecord]:
        """``user_id``'s live sessions with their timestamps and device columns, oldest first.

        Every record has a handle: a row from before handles existed is given one here.
        """
        stmt = (
            select(*_LISTING_COLUMNS)
            .where(self._owned_by(user_id, tenant_id), self._live())
            .order_by(T.c.created_at, T.c.id)
        )
        records = [_record(r._mapping) for r in await self._rows(stmt, "list a user's sessions")]
        for record in records:
            if record.handle is None:
                record.handle = await self._give_handle(record.id)
        return records

    async def _give_handle(self, session_id: str) -> str:
        """A handle for a row that has none (made before revision 0004), kept if another
        listing gave it one first."""
        handle = new_handle()
        stmt = update(T).where(T.c.id == session_id, T.c.handle.is_(None)).values(handle=handle)
        with translate_errors(self.display_url, "name a session"):
            async with self._writer.begin() as conn:
                if (await conn.execute(stmt)).rowcount:
                    return handle
                found = await conn.scalar(select(T.c.handle).where(T.c.id == session_id))
        return str(found) if found is not None else handle

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]:
        """Every live session (of one tenant), for debugging; not for large tables."""
        stmt = select(*_LISTING_COLUMNS).where(self._live()).order_by(T.c.created_at, T.c.id)
        if tenant_id is not None:
            stmt = stmt.where(_matches(T.c.tenant_id, tenant_id))
        return [_record(r._mapping) for r in await self._rows(stmt, "dump sessions")]

    async def clear_all_sessions(
        self,
        *,
        tenant_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Delete every session (of one tenant) in batches; returns how many."""
        cond = None if tenant_id is None else _matches(T.c.tenant_id, tenant_id)
        return await self._delete_batched(cond, batch_size, on_progress, "clear sessions")

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int:
        """Delete expired sessions in batches of ``batch_size``; returns how many."""
        cond = T.c.expiry_date <= utcnow()
        return await self._delete_batched(cond, batch_size, on_progress, "delete expired sessions")

    async def delete_expired_if_leader(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
        """:meth:`delete_expired` on one instance at a time; ``None`` if another is cleaning.

        PostgreSQL: every batch's transaction first takes a transaction-scoped advisory lock
        (``pg_try_advisory_xact_lock``), so the lock lives and dies with the transaction that
        deletes: a transaction pooler keeps a transaction on one server connection, nothing is
        ever unlocked on another connection, and a crashed leader's lock is gone the moment its
        transaction is. A batch that finds the lock taken ends this run (another instance is
        cleaning). SQLite lives on one machine and its batches already serialize on the file
        lock, so it always cleans.
        """
        if self.kind != "postgres":
            return await self.delete_expired(batch_size=batch_size)
        cond = T.c.expiry_date <= utcnow()
        return await self._delete_batches(
            cond, batch_size, None, "delete expired sessions", CLEANUP_LOCK_KEY
        )

    async def stats(self) -> StoreStats:
        """Totals for the operator: all rows, live, expired, distinct users, per tenant."""
        now = utcnow()
        live = T.c.expiry_date > now
        totals = select(
            func.count(),
            func.count().filter(live),
            func.count(func.distinct(T.c.user_id)).filter(live),
        )
        per_tenant = select(T.c.tenant_id, func.count()).where(live).group_by(T.c.tenant_id)
        with translate_errors(self.display_url, "compute statistics"):
            async with self._engine.connect() as conn:
                if self.kind == "postgres":  # [dialect] one snapshot for both queries
                    await conn.execution_options(isolation_level="REPEATABLE READ")
                total, n_live, users = (await conn.execute(totals)).one()
                tenants = {row[0]: int(row[1]) for row in await conn.execute(per_tenant)}
        return StoreStats(
            total=int(total),
            live=int(n_live),
            expired=int(total) - int(n_live),
            distinct_users=int(users),
            per_tenant=tenants,
        )

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _live() -> ColumnElement[bool]:
        return T.c.expiry_date > utcnow()

    async def _scalar(self, stmt: Any, action: str) -> Any:
        with translate_errors(self.display_url, action):
            async with self._engine.connect() as conn:
                return await conn.scalar(stmt)

    async def _rows(self, stmt: Any, action: str) -> Sequence[Row[Any]]:
        with translate_errors(self.display_url, action):
            async with self._engine.connect() as conn:
                return (await conn.execute(stmt)).all()

    async def _delete_batched(
        self,
        cond: ColumnElement[bool] | None,
        batch_size: int,
        on_progress: ProgressCallback | None,
        action: str,
    ) -> int:
        deleted = await self._delete_batches(cond, batch_size, on_progress, action, None)
        assert deleted is not None  # only a leader lock turns a run down
        return deleted

    async def _delete_batches(
        self,
        cond: ColumnElement[bool] | None,
        batch_size: int,
        on_progress: ProgressCallback | None,
        action: str,
        leader_lock: int | None,
    ) -> int | None:
        """Delete in batches; with ``leader_lock``, only while that transaction lock is free
        (``None`` when the first batch finds it taken)."""
        check_batch_size(batch_size)
        ids = select(T.c.id).limit(batch_size)
        if cond is not None:
            ids = ids.where(cond)
        stmt = delete(T).where(T.c.id.in_(ids.scalar_subquery()))
        total = 0
        with translate_errors(self.display_url, action):
            while True:
                async with self._writer.begin() as conn:
                    if leader_lock is not None and not await conn.scalar(
                        _TRY_XACT_LOCK, {"key": leader_lock}
                    ):
                        return total or None
                    deleted = int((await conn.execute(stmt)).rowcount)
                total += deleted
                if on_progress is not None and deleted:
                    on_progress(total)
                if deleted < batch_size:
                    return total
