"""Two OS processes hitting one key on one shared store (SQLite file, PostgreSQL, Redis):
the sliding window holds across processes, and so does the login guard."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from session_service import SessionStoreBackend
from session_service.limits import Counters, LimitStorage, RateLimiter, storage_for

from ..support.limits import limit_storage as limit_storage
from ..support.processes import run_together

# argv: url, what ("hits" or "logins"), how many
CHILD = """
import asyncio, sys
from session_service import SessionStoreBackend
from session_service.limits import LoginGuard, RateLimiter, storage_for

async def main(url, what, n):
    backend = await SessionStoreBackend.connect(url)
    storage = storage_for(backend.store)
    await storage.log("warm-up")  # connect before the race
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    if what == "hits":
        limits = RateLimiter(storage)
        calls = [limits.hit("shared", limit=100, window=3600) for _ in range(n)]
        allowed = sum(r.allowed for r in await asyncio.gather(*calls))
    else:
        guard = LoginGuard(storage, max_failures=5, window=600, lockout=600, ip_max_failures=10**6)
        calls = [guard.attempt("victim", "10.0.0.1") for _ in range(n)]
        allowed = sum(d.allowed for d in await asyncio.gather(*calls))
    print(allowed, flush=True)
    await backend.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""

#: A memory store lives in one process.
pytestmark = pytest.mark.stores("sqlite", "postgres", "redis")


def _race(url: str, what: str, per_process: int) -> int:
    results = run_together(CHILD, [[url, what, str(per_process)]] * 2)
    total = 0
    for code, out, err in results:
        assert code == 0, err
        total += int(out.split()[-1])
    return total


async def _migrated(url: str) -> SessionStoreBackend:
    backend = await SessionStoreBackend.connect(url)
    await backend.migrate()
    return backend


@pytest.mark.slow
def test_two_processes_never_admit_more_than_the_limit(db_url: str) -> None:
    backend = asyncio.run(_migrated(db_url))
    asyncio.run(backend.close())
    assert _race(db_url, "hits", 200) == 100

    async def peek() -> bool:
        b = await SessionStoreBackend.connect(db_url)
        try:
            limits = RateLimiter(storage_for(b.store))
            return (await limits.peek("shared", limit=100, window=3600)).allowed
        finally:
            await b.close()

    assert not asyncio.run(peek())


@pytest.mark.slow
def test_two_processes_of_wrong_passwords_let_max_failures_through(db_url: str) -> None:
    backend = asyncio.run(_migrated(db_url))
    asyncio.run(backend.close())
    assert _race(db_url, "logins", 50) == 5


@pytest.mark.stores("redis")
async def test_redis_counter_ttl_is_set_at_creation_only(
    backend: SessionStoreBackend, limit_storage: LimitStorage
) -> None:
    store: Any = backend.store
    client, key = store.client, store.key_prefix + "counter:c"
    counters = Counters(limit_storage)
    await counters.add("c", 1, ttl=100)
    first = await client.pttl(key)
    await client.pexpire(key, 50_000)  # as if 50 s had passed
    await counters.add("c", 1, ttl=100)
    assert 0 < await client.pttl(key) <= 50_000 < first
    await counters.add("forever", 1)
    assert await client.pttl(store.key_prefix + "counter:forever") == -1
