"""The memory store's export and import primitives (:mod:`..._transfer` has the rules).

Export pages through a snapshot of the keys (sorted, so a page is a slice), each page read
under the space's lock; import writes a batch under the lock, so it is atomic against every
other operation. The CLI cannot reach a memory store (another process's memory); an app or a
test can, through these methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ...errors import SessionStoreUnavailable
from ...limits.storage import LimitParams
from ...records import utcnow
from .._transfer import CounterEntry, LimitEntry, StoredSession, TransferRules, stored_from
from .admin import MemoryAdminOps
from .limits import memory_storage_of
from .space import Entry, record_of, utc


class MemoryTransferOps(TransferRules, MemoryAdminOps):
    """Export and import on one memory space (bounded as every write is: a row that finds
    the space full, expired sessions purged, is refused as a create is)."""

    max_sessions: int

    async def _export_batches(
        self, tenant_id: str | None, batch_size: int
    ) -> AsyncIterator[list[StoredSession]]:
        space = self._space
        with space.lock:
            pool = space.sessions if tenant_id is None else space.by_tenant.get(tenant_id, ())
            keys = sorted(pool)
        for start in range(0, len(keys), batch_size):
            now = utcnow()
            with space.lock:
                found = [(k, space.live(k, now)) for k in keys[start : start + batch_size]]
            batch = [stored_from(record_of(k, e)) for k, e in found if e is not None]
            if batch:
                yield batch

    async def _import_batch(self, rows: list[tuple[StoredSession, str]]) -> int:
        written = 0
        with self._space.lock:
            for row, data in rows:
                old = self._space.sessions.get(row.key)
                if old is not None and old.updated_at >= row.updated_at:
                    continue
                if old is None and len(self._space.sessions) >= self.max_sessions:
                    self._space.purge_expired(utcnow())
                    if len(self._space.sessions) >= self.max_sessions:
                        raise SessionStoreUnavailable(
                            f"the memory store is full ({self.max_sessions:,} sessions, "
                            "SESSION_MEMORY_MAX_SESSIONS): the import stopped"
                        )
                seen = None if row.last_seen is None else utc(row.last_seen)
                self._space.put(row.key, Entry(
                    data, utc(row.expiry_date), row.user_id, row.tenant_id,
                    utc(row.created_at), utc(row.updated_at),
                    row.ip, row.user_agent, seen, row.handle,
                ))  # fmt: skip
                written += 1
        return written

    # -- rate limits and counters (the space's limit storage) --------------------------------

    async def _export_limits(self, batch_size: int) -> AsyncIterator[list[LimitEntry]]:
        storage = memory_storage_of(self._space)
        with storage._lock:
            entries = [
                LimitEntry(k, list(log), exp, *(storage._params.get(k) or (None, None)))
                for k, (log, exp) in storage._logs.items()
            ]
        for start in range(0, len(entries), batch_size):
            yield entries[start : start + batch_size]

    async def _export_counters(self, batch_size: int) -> AsyncIterator[list[CounterEntry]]:
        storage = memory_storage_of(self._space)
        with storage._lock:
            entries = [CounterEntry(k, v, exp) for k, (v, exp) in storage._counters.items()]
        for start in range(0, len(entries), batch_size):
            yield entries[start : start + batch_size]

    async def _import_limits(self, entries: list[LimitEntry], now: int) -> int:
        storage = memory_storage_of(self._space)
        written = 0
        with storage._lock:
            for e in entries:
                old = storage._logs.get(e.key)
                if old is not None and old[0] and old[0][-1] >= e.hits[-1]:
                    continue
                storage._logs[e.key] = (list(e.hits), e.expires_at)
                storage._params.pop(e.key, None)
                if e.limit is not None and e.window_ms is not None:
                    storage._params[e.key] = LimitParams(e.limit, e.window_ms)
                written += 1
        return written

    async def _import_counters(self, entries: list[CounterEntry], now: int) -> int:
        storage = memory_storage_of(self._space)
        written = 0
        with storage._lock:
            for e in entries:
                if storage._live_value(e.key, now) is None:
                    storage._counters[e.key] = (e.value, e.expires_at)
                    written += 1
        return written
