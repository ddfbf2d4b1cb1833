"""Every store kind keeps a rate limit's numbers (limit, window) with its log, so an operator's
``limits show KEY`` needs no ``--limit``/``--window`` (issue 24); a log written before they
were kept reads as having none."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from session_service import SessionStoreBackend
from session_service.limits import LimitStorage, RateLimiter
from session_service.limits.storage import LimitParams, LimitParamsStorage
from session_service.stores.sql.schema import limits_table

from ..conftest import sql_engine
from ..support.limits import FakeClock, limit_storage

__all__ = ["limit_storage"]

#: A Redis Cluster keeps no numbers (the key of a log's numbers would be in another slot).
pytestmark = pytest.mark.stores("sqlite", "postgres", "redis", "memory")


@pytest.fixture
def limiter(limit_storage: LimitStorage) -> RateLimiter:
    return RateLimiter(limit_storage, clock=FakeClock())


def params_storage(storage: LimitStorage) -> LimitParamsStorage:
    assert isinstance(storage, LimitParamsStorage), f"{storage!r} keeps no limit numbers"
    return storage


async def forget_params(backend: SessionStoreBackend, key: str) -> None:
    """Leave ``key``'s log as a version before revision 0007 (or its Redis twin) wrote it."""
    store: Any = backend.store
    if backend.kind in ("sqlite", "postgres"):
        async with sql_engine(backend).begin() as conn:
            await conn.execute(
                update(limits_table)
                .where(limits_table.c.key == key)
                .values(limit_count=None, window_ms=None)
            )
    elif backend.kind == "redis":
        await store.client.delete(f"{store.key_prefix}limit:{key}\0n")
    else:
        store.limit_storage()._params.pop(key)


async def test_an_allowed_hit_records_the_limit_and_window(
    limiter: RateLimiter, limit_storage: LimitStorage
) -> None:
    storage = params_storage(limit_storage)
    assert await storage.params("api:alice") is None
    await limiter.hit("api:alice", limit=3, window=60)
    assert await storage.params("api:alice") == LimitParams(3, 60_000)
    await limiter.hit("api:alice", limit=5, window=1.5)  # the app changed its numbers
    assert await storage.params("api:alice") == LimitParams(5, 1_500)
    assert await storage.params("api:bob") is None


async def test_a_refused_hit_keeps_the_numbers_and_a_reset_forgets_them(
    limiter: RateLimiter, limit_storage: LimitStorage
) -> None:
    storage = params_storage(limit_storage)
    await limiter.hit("k", limit=1, window=60)
    assert not (await limiter.hit("k", limit=1, window=60)).allowed
    assert await storage.params("k") == LimitParams(1, 60_000)
    await limiter.reset("k")
    assert await storage.params("k") is None
    await limiter.hit("k", limit=2, window=10)
    assert await storage.params("k") == LimitParams(2, 10_000)


async def test_a_log_from_before_the_numbers_were_kept_has_none(
    limiter: RateLimiter, limit_storage: LimitStorage, backend: SessionStoreBackend
) -> None:
    storage = params_storage(limit_storage)
    await limiter.hit("old", limit=4, window=60)
    await forget_params(backend, "old")
    assert await storage.params("old") is None
    assert await limit_storage.log("old") != []  # the hits themselves are still there
    await limiter.hit("old", limit=4, window=60)  # the next allowed hit records them
    assert await storage.params("old") == LimitParams(4, 60_000)
