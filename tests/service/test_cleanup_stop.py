"""Stopping the cleanup task works even when the store swallows the cancellation.

redis-py swallows a cancellation that lands mid-command now and then (about 1 in 15 in a tight
loop); ``stop_cleanup()`` (and so ``service.close()`` and the lifespan's exit) must not then
wait for the next cleanup an interval later. The store here is a custom one that always
swallows it, which also shows ``SessionStoreBackend`` taking a store of one's own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from session_service import DefaultSessionService, MemorySessionStore, SessionStoreBackend

from ..support.webapp import settings_for

pytestmark = pytest.mark.stores("memory")


class SwallowingStore(MemorySessionStore):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.cleaning = asyncio.Event()

    async def delete_expired_if_leader(self, *, batch_size: int = 5000) -> int | None:
        self.cleaning.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return 0  # what a driver that swallows the cancellation does
        return None


async def test_stop_cleanup_returns_when_the_store_swallows_the_cancel(
    db_url: str, tmp_path: Path
) -> None:
    store = SwallowingStore(db_url)
    settings = settings_for(db_url, str(tmp_path), SESSION_CLEANUP_INTERVAL_SECONDS="3600")
    service = DefaultSessionService(SessionStoreBackend(store), settings)
    service.start_cleanup()
    await store.cleaning.wait()
    stopping = asyncio.ensure_future(service.stop_cleanup())
    # A hang guard, not a timing threshold: without the fix this waits the whole interval.
    done, _ = await asyncio.wait([stopping], timeout=60)
    assert stopping in done, "stop_cleanup() hung on a swallowed cancellation"
