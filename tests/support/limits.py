"""Fixtures for the limits tests: a limit storage of every kind, and a clock tests move.

``limit_storage`` is the storage of the conftest's ``backend``, so it runs on every store kind
(SQLite, PostgreSQL, Redis, memory) through ``storage_for``, as ``service.limits`` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from session_service import SessionStoreBackend
from session_service.limits import LimitStorage, storage_for


class FakeClock:
    """The app clock of a test: seconds, moved by hand."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def delete_prefix(client: Any, prefix: str) -> None:
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        await client.delete(key)


@pytest.fixture
async def limit_storage(backend: SessionStoreBackend) -> AsyncIterator[LimitStorage]:
    """The limit storage of a migrated store of every kind (the conftest's ``backend``)."""
    yield storage_for(backend.store)
    if backend.kind in ("redis", "redis_cluster"):
        # Counters made without a ttl have no TTL by design; the conftest's Redis teardown
        # insists that session keys all have one, so these go first.
        store: Any = backend.store
        await delete_prefix(store.client, store.key_prefix + "counter:")
