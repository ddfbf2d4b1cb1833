"""The memory store's admin side: by user, by tenant, everything, expiry and statistics.

Each operation holds the space's lock while it reads or changes the space (a batched delete
takes it once per batch), so it is atomic against every other operation, as one SQL statement
or one Redis script is. The arguments are checked above, in :class:`~..base.SessionStoreBase`.
"""

from __future__ import annotations

from ...records import SessionRecord, utcnow
from .._per_user import least_recently_used
from ..base import SessionStoreBase
from ..protocol import ProgressCallback, StoreStats
from .space import Space, record_of


class MemoryAdminOps(SessionStoreBase):
    """The admin primitives of :class:`~.store.MemorySessionStore` (the store provides the
    space)."""

    _space: Space

    # -- by user, by tenant, everything -------------------------------------------------------

    async def _clear_user(
        self, user_id: str, tenant_id: str | None, untenanted_only: bool, keep: str | None
    ) -> int:
        # Expired sessions of the user go too (as SQL deletes their rows).
        with self._space.lock:
            any_tenant = tenant_id is None and not untenanted_only
            ids = self._space.owned(user_id, tenant_id, any_tenant)
            if keep is not None:
                if keep not in ids or self._space.live(keep, utcnow()) is None:
                    return 0
                ids.remove(keep)
            for sid in ids:
                self._space.drop(sid)
        return len(ids)

    async def _evict_extra(self, keep: str, limit: int) -> int:
        # The check and the deletes under one hold of the lock, with no await in between.
        now = utcnow()
        with self._space.lock:
            entry = self._space.live(keep, now)
            if entry is None or entry.user_id is None:
                return 0
            ids = self._space.owned(entry.user_id, entry.tenant_id, False)
            if len(ids) <= limit:
                return 0
            held = [
                SessionRecord(sid, {}, e.expiry, e.user_id, e.tenant_id, created_at=e.created_at,
                              updated_at=e.updated_at, last_seen=e.last_seen)
                for sid in ids if (e := self._space.live(sid, now)) is not None
            ]  # fmt: skip
            doomed = least_recently_used(held, keep, limit)
            for sid in doomed:
                self._space.drop(sid)
        return len(doomed)

    async def _revoke(self, user_id: str, handle: str, tenant_id: str | None) -> bool:
        now = utcnow()
        with self._space.lock:
            for sid in self._space.owned(user_id, tenant_id, tenant_id is None):
                entry = self._space.live(sid, now)
                if entry is not None and entry.handle == handle:
                    self._space.drop(sid)
                    return True
        return False

    async def _list_user(self, user_id: str, tenant_id: str | None) -> list[SessionRecord]:
        now = utcnow()
        with self._space.lock:
            ids = self._space.owned(user_id, tenant_id, tenant_id is None)
            entries = [(sid, self._space.live(sid, now)) for sid in ids]
        return [record_of(sid, e) for sid, e in entries if e is not None]

    async def _name_session(self, session_id: str, handle: str) -> str | None:
        with self._space.lock:
            entry = self._space.live(session_id, utcnow())
            if entry is None:
                return None
            entry.handle = entry.handle or handle
            return entry.handle

    async def _dump(self, tenant_id: str | None) -> list[SessionRecord]:
        now = utcnow()
        with self._space.lock:
            space = self._space
            ids = list(space.sessions) if tenant_id is None else space.by_tenant.get(tenant_id, ())
            entries = [(sid, self._space.live(sid, now)) for sid in ids]
        return [record_of(sid, e) for sid, e in entries if e is not None]

    async def _clear_all(
        self, tenant_id: str | None, batch_size: int, on_progress: ProgressCallback | None
    ) -> int:
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

    async def _delete_expired(self, batch_size: int, on_progress: ProgressCallback | None) -> int:
        now, total = utcnow(), 0
        while True:
            with self._space.lock:
                deleted = self._space.purge_expired(now, batch_size)
            total += deleted
            if on_progress is not None and deleted:
                on_progress(total)
            if deleted < batch_size:
                return total

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
