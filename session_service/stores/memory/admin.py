"""The memory store's admin side: by user, by tenant, everything, expiry and statistics.

Each operation holds the space's lock while it reads or changes the space (a batched delete
takes it once per batch), so it is atomic against every other operation, as one SQL statement
or one Redis script is.
"""

from __future__ import annotations

from ...records import SessionRecord, utcnow
from ..protocol import (
    DEFAULT_BATCH_SIZE,
    ProgressCallback,
    StoreStats,
    check_batch_size,
    check_untenanted_only,
)
from .space import Space, oldest_first, record_of


class MemoryAdminOps:
    """The admin operations of :class:`~.store.MemorySessionStore` (a mixin: the store
    provides the space)."""

    _space: Space

    # -- by user, by tenant, everything -------------------------------------------------------

    async def clear_sessions_for_user(
        self,
        user_id: str | int,
        *,
        tenant_id: str | None = None,
        keep: str | None = None,
        untenanted_only: bool = False,
    ) -> int:
        """Delete every session of ``user_id`` (expired ones too; in one tenant, in none with
        ``untenanted_only``, or in all) but ``keep``; returns how many. With ``keep``, nothing
        unless it is still a live session of that user in that scope."""
        check_untenanted_only(tenant_id, untenanted_only)
        with self._space.lock:
            any_tenant = tenant_id is None and not untenanted_only
            ids = self._space.owned(str(user_id), tenant_id, any_tenant)
            if keep is not None:
                if keep not in ids or self._space.live(keep, utcnow()) is None:
                    return 0
                ids.remove(keep)
            for sid in ids:
                self._space.drop(sid)
        return len(ids)

    async def revoke_user_session(
        self, user_id: str | int, handle: str, *, tenant_id: str | None = None
    ) -> bool:
        """Delete the live session of ``user_id`` named ``handle``; ``False`` if it has none
        (an expired one counts as none, as in every store)."""
        now = utcnow()
        with self._space.lock:
            for sid in self._space.owned(str(user_id), tenant_id, tenant_id is None):
                entry = self._space.live(sid, now)
                if entry is not None and entry.handle == handle:
                    self._space.drop(sid)
                    return True
        return False

    def _owned_live(self, user_id: str | int, tenant_id: str | None) -> list[SessionRecord]:
        now = utcnow()
        with self._space.lock:
            ids = self._space.owned(str(user_id), tenant_id, tenant_id is None)
            entries = [(sid, self._space.live(sid, now)) for sid in ids]
        return oldest_first([record_of(sid, e) for sid, e in entries if e is not None])

    async def count_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        return len(self._owned_live(user_id, tenant_id))

    async def get_session_ids_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[str]:
        return [r.id for r in self._owned_live(user_id, tenant_id)]

    async def list_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[SessionRecord]:
        return self._owned_live(user_id, tenant_id)

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]:
        now = utcnow()
        with self._space.lock:
            space = self._space
            ids = list(space.sessions) if tenant_id is None else space.by_tenant.get(tenant_id, ())
            entries = [(sid, self._space.live(sid, now)) for sid in ids]
        return oldest_first([record_of(sid, e) for sid, e in entries if e is not None])

    async def clear_all_sessions(
        self,
        *,
        tenant_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        check_batch_size(batch_size)
        total = 0
        while True:
            with self._space.lock:
                space = self._space
                pool = space.sessions if tenant_id is None else space.by_tenant.get(tenant_id, ())
                batch = list(pool)[:batch_size]
                for sid in batch:
                    space.drop(sid)
            total += len(batch)
            if on_progress is not None and batch:
                on_progress(total)
            if len(batch) < batch_size:
                return total

    # -- expiry and statistics ----------------------------------------------------------

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int:
        """Remove expired sessions in batches; returns how many."""
        check_batch_size(batch_size)
        now, total = utcnow(), 0
        while True:
            with self._space.lock:
                deleted = self._space.purge_expired(now, batch_size)
            total += deleted
            if on_progress is not None and deleted:
                on_progress(total)
            if deleted < batch_size:
                return total

    async def delete_expired_if_leader(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
        """One process, so always the leader."""
        return await self.delete_expired(batch_size=batch_size)

    async def stats(self) -> StoreStats:
        now = utcnow()
        with self._space.lock:
            entries = list(self._space.sessions.values())
        live = [e for e in entries if e.expiry > now]
        per_tenant: dict[str | None, int] = {}
        for e in live:
            per_tenant[e.tenant_id] = per_tenant.get(e.tenant_id, 0) + 1
        return StoreStats(
            total=len(entries),
            live=len(live),
            expired=len(entries) - len(live),
            distinct_users=len({e.user_id for e in live if e.user_id is not None}),
            per_tenant=per_tenant,
        )
