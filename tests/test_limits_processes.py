"""Two OS processes hitting one key on one shared store (SQLite file, PostgreSQL, Redis):
the sliding window holds across processes, and so does the login guard."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from session_service.limits import RateLimiter
from session_service.limits.redis import RedisLimitStorage

from ._processes import run_together
from .limits_support import delete_prefix, redis_client, redis_url, sql_backend
from .limits_support import storage_kind_url as storage_kind_url

# argv: kind, url, redis key prefix, what ("hits" or "logins"), how many
CHILD = """
import asyncio, sys
from session_service import SessionStoreBackend
from session_service.limits import LoginGuard, RateLimiter, storage_for
from session_service.limits.redis import RedisLimitStorage

async def main(kind, url, prefix, what, n):
    if kind == "redis":
        import redis.asyncio
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=20, timeout=30)
        client = redis.asyncio.Redis(connection_pool=pool)
        storage, backend = RedisLimitStorage(client, prefix), None
    else:
        backend = await SessionStoreBackend.connect(url)
        storage = storage_for(backend.store)
    await storage.log("warm-up")  # connect before the race
    print("ready", flush=True)
    sys.stdin.readline()
    if what == "hits":
        limits = RateLimiter(storage)
        calls = [limits.hit("shared", limit=100, window=3600) for _ in range(n)]
        allowed = sum(r.allowed for r in await asyncio.gather(*calls))
    else:
        guard = LoginGuard(storage, max_failures=5, window=600, lockout=600, ip_max_failures=10**6)
        calls = [guard.attempt("victim", "10.0.0.1") for _ in range(n)]
        allowed = sum(d.allowed for d in await asyncio.gather(*calls))
    print(allowed, flush=True)
    if backend is not None:
        await backend.close()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
"""


def _race(kind: str, url: str, prefix: str, what: str, per_process: int) -> int:
    results = run_together(CHILD, [[kind, url, prefix, what, str(per_process)]] * 2)
    total = 0
    for code, out, err in results:
        assert code == 0, err
        total += int(out.split()[-1])
    return total


@pytest.fixture
def shared_store(storage_kind_url: tuple[str, str]) -> tuple[str, str, str]:
    kind, url = storage_kind_url
    if kind == "memory":
        pytest.skip("a memory store lives in one process")
    if kind != "redis":
        asyncio.run(_migrate(url))
    return kind, url, f"sstest:{secrets.token_hex(6)}:"


async def _migrate(url: str) -> None:
    backend = await sql_backend(url)
    await backend.close()


async def _cleanup(kind: str, url: str, prefix: str) -> None:
    if kind == "redis":
        client = redis_client(url)
        await delete_prefix(client, prefix)
        await client.aclose()


def _check_with_peek(kind: str, url: str, prefix: str) -> bool:
    async def peek() -> bool:
        if kind == "redis":
            client = redis_client(url)
            storage = RedisLimitStorage(client, prefix)
            allowed = (await RateLimiter(storage).peek("shared", limit=100, window=3600)).allowed
            await client.aclose()
            return allowed
        from session_service.limits import storage_for

        backend = await sql_backend(url)
        result = await RateLimiter(storage_for(backend.store)).peek(
            "shared", limit=100, window=3600
        )
        await backend.close()
        return result.allowed

    return asyncio.run(peek())


@pytest.mark.slow
def test_two_processes_never_admit_more_than_the_limit(
    shared_store: tuple[str, str, str],
) -> None:
    kind, url, prefix = shared_store
    try:
        assert _race(kind, url, prefix, "hits", 200) == 100
        assert not _check_with_peek(kind, url, prefix)
    finally:
        asyncio.run(_cleanup(kind, url, prefix))


@pytest.mark.slow
def test_two_processes_of_wrong_passwords_let_max_failures_through(
    shared_store: tuple[str, str, str],
) -> None:
    kind, url, prefix = shared_store
    try:
        assert _race(kind, url, prefix, "logins", 50) == 5
    finally:
        asyncio.run(_cleanup(kind, url, prefix))


async def test_redis_counter_ttl_is_set_at_creation_only(tmp_path: Path) -> None:
    from session_service.limits import Counters

    client = redis_client(redis_url())
    prefix = f"sstest:{secrets.token_hex(6)}:"
    try:
        counters = Counters(RedisLimitStorage(client, prefix))
        await counters.add("c", 1, ttl=100)
        first = await client.pttl(prefix + "counter:c")
        await client.pexpire(prefix + "counter:c", 50_000)  # as if 50 s had passed
        await counters.add("c", 1, ttl=100)
        assert 0 < await client.pttl(prefix + "counter:c") <= 50_000 < first
        await counters.add("forever", 1)
        assert await client.pttl(prefix + "counter:forever") == -1
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()
