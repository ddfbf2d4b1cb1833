"""Export and import through a read cache (``session-service export``/``import``/``copy`` on
a store with ``SESSION_CACHE=local``; docs/operations.md, "Backups and moving stores").

The rows travel as the store behind the cache keeps them (sealed values stay sealed), so an
export, and the rate limits' and counters' export and import, are the inner store's own. An
import is a write of each session it names: this process forgets those sessions while it runs
and keeps nothing of them (a row holds its data as stored, not as a request reads it), so the
next read here is the imported row, never a copy cached before it. Other processes see an
import as any write, within ``SESSION_CACHE_MAX_AGE_SECONDS`` (it revokes nothing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import ExitStack
from typing import TYPE_CHECKING

from ..errors import SessionConfigError
from ..stores._transfer import (
    CounterEntry,
    ImportCounts,
    LimitEntry,
    StoredSession,
    TransferStore,
)
from ..stores.protocol import DEFAULT_BATCH_SIZE, SessionStore

if TYPE_CHECKING:
    from .local import LocalCache


class CachedTransfer:
    """The :class:`~session_service.stores._transfer.TransferStore` methods of a cached store."""

    inner: SessionStore
    cache: LocalCache

    def _transfer(self) -> TransferStore:
        inner = self.inner
        if not isinstance(inner, TransferStore):
            raise SessionConfigError(
                f"the {inner.kind!r} store offers no export or import "
                "(see session_service.stores._transfer.TransferStore)"
            )
        return inner

    async def export_sessions(
        self, *, tenant_id: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[list[StoredSession]]:
        async for batch in self._transfer().export_sessions(
            tenant_id=tenant_id, batch_size=batch_size
        ):
            yield batch

    async def import_sessions(self, rows: Iterable[StoredSession]) -> ImportCounts:
        inner, rows = self._transfer(), list(rows)
        with ExitStack() as writes:  # a row's key is the key the cache files it under
            for key in dict.fromkeys(row.key for row in rows):
                writes.enter_context(self.cache.writing(key))
            return await inner.import_sessions(rows)

    def export_limits(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[list[LimitEntry]]:
        return self._transfer().export_limits(batch_size=batch_size)

    def export_counters(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[list[CounterEntry]]:
        return self._transfer().export_counters(batch_size=batch_size)

    async def import_limits(self, entries: Iterable[LimitEntry]) -> ImportCounts:
        return await self._transfer().import_limits(entries)

    async def import_counters(self, entries: Iterable[CounterEntry]) -> ImportCounts:
        return await self._transfer().import_counters(entries)
