"""The SQL store's admin side: by user, by tenant, everything, expiry cleanup and statistics.

These run through SQLAlchemy Core (they are rare and set-based, unlike the per-request
driver). Every delete is bounded: ``clear_all_sessions`` and ``delete_expired`` work in
batches, each its own short transaction, so neither holds a long lock on a big table. User and
tenant ids are always bound parameters, compared with ``=`` (never ``LIKE``), so any string is
data. The arguments are checked above, in :class:`~..base.SessionStoreBase`; where the
databases differ (a row lock, a snapshot, the cleanup leader's lock) each says so in its own
store class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, RowMapping, Select, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...records import SessionRecord, utcnow
from .._codec import decode_data
from .._errors import translate_errors
from .._per_user import least_recently_used
from ..base import SessionStoreBase
from ..protocol import ProgressCallback, StoreStats
from .loop_engine import LoopEngine
from .schema import sessions_table as T

#: Asked in a cleanup batch's transaction whether this instance may clean (``False``: another is).
LeaderCheck = Callable[[AsyncConnection], Awaitable[bool]]

_ROW_COLUMNS = (T.c.id, T.c.data, T.c.expiry_date, T.c.user_id, T.c.tenant_id)
_LISTING_COLUMNS = (
    *_ROW_COLUMNS,
    *(T.c.created_at, T.c.updated_at, T.c.ip, T.c.user_agent, T.c.last_seen, T.c.handle),
)


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


def _owned_by(
    user_id: str, tenant_id: str | None, untenanted_only: bool = False
) -> ColumnElement[bool]:
    cond = T.c.user_id == user_id
    if untenanted_only:
        return and_(cond, T.c.tenant_id.is_(None))
    return cond if tenant_id is None else and_(cond, T.c.tenant_id == tenant_id)


def _live() -> ColumnElement[bool]:
    return T.c.expiry_date > utcnow()


class SqlAdminOps(SessionStoreBase):
    """The admin primitives of :class:`~.store.SqlSessionStore` (the store provides the
    engines and the display URL; each database the hooks at the end)."""

    _engines: LoopEngine

    @property
    def _engine(self) -> AsyncEngine:
        return self._engines.engine

    @property
    def _writer(self) -> AsyncEngine:
        return self._engines.writer

    # -- by user, by tenant, everything ----------------------------------------------------

    async def _clear_user(
        self, user_id: str, tenant_id: str | None, untenanted_only: bool, keep: str | None
    ) -> int:
        """``keep``: spared, and only if it is still a live session of that user; otherwise
        nothing is deleted, so of two devices that press the button at once exactly one stays
        signed in. The check and the delete are one transaction that holds the user's rows
        (:meth:`_hold_rows`), so two such calls queue instead of deadlocking."""
        owned = _owned_by(user_id, tenant_id, untenanted_only)
        with translate_errors(self.display_url, "clear a user's sessions"):
            async with self._writer.begin() as conn:
                if keep is not None:
                    rows = self._hold_rows(select(T.c.id, T.c.expiry_date).where(owned))
                    now = utcnow()
                    held = {r.id: r.expiry_date for r in await conn.execute(rows.order_by(T.c.id))}
                    if keep not in held or held[keep] <= now:
                        return 0  # the caller was signed out meanwhile: it keeps nobody out
                    owned = and_(owned, T.c.id != keep)
                return int((await conn.execute(delete(T).where(owned))).rowcount)

    async def _evict_extra(self, keep: str, limit: int) -> int:
        """One transaction: the owner of ``keep`` is read, the owner's lock taken
        (:meth:`_lock_owner`), the owner's live rows in that tenant read afresh and the extra
        ones deleted (:meth:`_evict_on`). A login that finds its owner within the limit by
        one statement first (on the per-request driver, after its own write) takes no lock:
        of racing logins, the one counting last sees every write before it, so one of them
        always counts above the limit and trims."""
        if await self._owner_count(keep) <= limit:
            return 0
        now = utcnow()
        owner = select(T.c.user_id, T.c.tenant_id).where(T.c.id == keep, T.c.expiry_date > now)
        with translate_errors(self.display_url, "sign out a user's extra sessions"):
            async with self._writer.begin() as conn:
                found = (await conn.execute(owner)).first()
                if found is None or found.user_id is None:
                    return 0
                return await self._evict_on(conn, keep, found.user_id, found.tenant_id, limit)

    async def _evict_on(
        self, conn: AsyncConnection, keep: str, user: str, tenant: str | None, limit: int
    ) -> int:
        """In ``conn``'s transaction (a login's own, or :meth:`_evict_extra`'s): take the
        owner's lock, read the owner's live rows afresh, delete the extra ones. Two logins of
        one user queue on the lock, so the later one sees the earlier one's session."""
        await self._lock_owner(conn, user, tenant)
        rows = select(T.c.id, T.c.created_at, T.c.updated_at, T.c.last_seen).where(
            _owned_by(user, tenant, untenanted_only=tenant is None), _live()
        )
        now = utcnow()
        held = [
            SessionRecord(r.id, {}, now, user, tenant, created_at=r.created_at,
                          updated_at=r.updated_at, last_seen=r.last_seen)
            for r in await conn.execute(rows)
        ]  # fmt: skip
        doomed = least_recently_used(held, keep, limit)
        if not doomed:
            return 0
        return int((await conn.execute(delete(T).where(T.c.id.in_(doomed)))).rowcount)

    async def _owner_count(self, keep: str) -> int:
        """The live sessions of ``keep``'s owner in its tenant (the store provides it)."""
        raise NotImplementedError

    async def _revoke(self, user_id: str, handle: str, tenant_id: str | None) -> bool:
        # The live row only: an expired one is the cleanup's, and signing it out would report
        # a device that was already gone.
        stmt = delete(T).where(_owned_by(user_id, tenant_id), T.c.handle == handle, _live())
        with translate_errors(self.display_url, "revoke a session"):
            async with self._writer.begin() as conn:
                return bool((await conn.execute(stmt)).rowcount)

    async def _count_user(self, user_id: str, tenant_id: str | None) -> int:
        stmt = select(func.count()).where(_owned_by(user_id, tenant_id), _live())
        return int(await self._scalar(stmt, "count a user's sessions"))

    async def _list_user(self, user_id: str, tenant_id: str | None) -> list[SessionRecord]:
        stmt = select(*_LISTING_COLUMNS).where(_owned_by(user_id, tenant_id), _live())
        return [_record(r._mapping) for r in await self._rows(stmt, "list a user's sessions")]

    async def _name_session(self, session_id: str, handle: str) -> str | None:
        """Kept if another listing named it first (a row made before revision 0004)."""
        stmt = update(T).where(T.c.id == session_id, T.c.handle.is_(None)).values(handle=handle)
        with translate_errors(self.display_url, "name a session"):
            async with self._writer.begin() as conn:
                if (await conn.execute(stmt)).rowcount:
                    return handle
                found = await conn.scalar(select(T.c.handle).where(T.c.id == session_id))
        return None if found is None else str(found)

    async def _dump(self, tenant_id: str | None) -> list[SessionRecord]:
        stmt = select(*_LISTING_COLUMNS).where(_live())
        if tenant_id is not None:
            stmt = stmt.where(T.c.tenant_id == tenant_id)
        return [_record(r._mapping) for r in await self._rows(stmt, "dump sessions")]

    async def _clear_all(
        self, tenant_id: str | None, batch_size: int, on_progress: ProgressCallback | None
    ) -> int:
        cond = None if tenant_id is None else T.c.tenant_id == tenant_id
        return await self._delete_batched(cond, batch_size, on_progress, "clear sessions")

    async def _delete_expired(self, batch_size: int, on_progress: ProgressCallback | None) -> int:
        cond = T.c.expiry_date <= utcnow()
        return await self._delete_batched(cond, batch_size, on_progress, "delete expired sessions")

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
                await self._one_snapshot(conn)
                total, n_live, users = (await conn.execute(totals)).one()
                tenants = {row[0]: int(row[1]) for row in await conn.execute(per_tenant)}
        return StoreStats(
            total=int(total),
            live=int(n_live),
            expired=int(total) - int(n_live),
            distinct_users=int(users),
            per_tenant=tenants,
        )

    # -- where the databases differ (each store class says how) -------------------------------

    def _hold_rows(self, rows: Select[Any]) -> Select[Any]:
        """``rows``, read so that no other writer changes them until the transaction ends."""
        raise NotImplementedError

    async def _one_snapshot(self, conn: AsyncConnection) -> None:
        """Make the queries on ``conn`` see one snapshot of the table."""
        raise NotImplementedError

    async def _lock_for_migration(self, conn: AsyncConnection) -> None:
        """Keep other processes from migrating until ``conn``'s transaction ends."""
        raise NotImplementedError

    async def _lock_owner(self, conn: AsyncConnection, user_id: str, tenant_id: str | None) -> None:
        """Keep other ``SESSION_MAX_PER_USER`` checks of this user in this tenant waiting
        until ``conn``'s transaction ends (a new snapshot is read after it)."""
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------------

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
        leader: LeaderCheck | None,
    ) -> int | None:
        """Delete in batches; with ``leader``, each batch's transaction first asks it, and a
        batch it turns down ends the run (``None`` when it turns down the first)."""
        ids = select(T.c.id).limit(batch_size)
        if cond is not None:
            ids = ids.where(cond)
        stmt = delete(T).where(T.c.id.in_(ids.scalar_subquery()))
        total = 0
        with translate_errors(self.display_url, action):
            while True:
                async with self._writer.begin() as conn:
                    if leader is not None and not await leader(conn):
                        return total or None
                    deleted = int((await conn.execute(stmt)).rowcount)
                total += deleted
                if on_progress is not None and deleted:
                    on_progress(total)
                if deleted < batch_size:
                    return total
