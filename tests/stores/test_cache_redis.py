"""The read cache on Redis alone: one subscriber connection per process under the store's
key prefix, and what happens when it is killed (``CLIENT KILL TYPE pubsub`` on a throwaway
``redis-server`` of the test's own, so the shared server's clients are never touched)."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as aioredis

from session_service.cache.redis import RedisRevocations

from ..support.cache import Heard, count_loads, record, state_change, two_processes
from .test_hardening import StartRedis, throwaway_redis

__all__ = ["throwaway_redis"]  # a fixture

pytestmark = pytest.mark.stores("redis")


async def _kill_subscribers(url: str) -> int:
    client = aioredis.Redis.from_url(url.split("?")[0])
    try:
        return int(await client.client_kill_filter(_type="pubsub"))
    finally:
        await client.aclose()


async def test_one_subscriber_per_process_under_the_key_prefix(db_url: str) -> None:
    async with two_processes(db_url) as (a, b):
        channel = b.channel
        assert isinstance(channel, RedisRevocations)
        assert channel.channel == a.inner.key_prefix + "revoked"  # type: ignore[attr-defined]
        client = aioredis.Redis.from_url(db_url.split("?")[0])
        try:
            counts = dict(await client.pubsub_numsub(channel.channel))
            assert counts[channel.channel.encode()] == 2  # a's and b's, one each
        finally:
            await client.aclose()


async def test_while_the_subscriber_is_killed_no_read_is_a_hit(
    throwaway_redis: StartRedis, caplog: pytest.LogCaptureFixture
) -> None:
    url = throwaway_redis() + "?key_prefix=cachetest:"
    caplog.set_level(logging.WARNING, logger="session_service.cache")
    async with two_processes(url) as (a, b):
        rec = await a.create(record("u1"))
        assert await b.load(rec.id) is not None
        b.channel.retry_first = a.channel.retry_first = 3600.0  # both stay down for the test
        assert await _kill_subscribers(url) == 2
        await state_change(b, listening=False)
        await a.delete(rec.id)  # published to nobody
        stale = [await b.load(rec.id) for _ in range(1000)]
        assert stale.count(None) == 1000
        live = await a.create(record("u2"))
        asked = count_loads(b)
        await b.load(live.id)
        await b.load(live.id)
        assert asked == [live.id, live.id]  # no hit while down
    lines = [r.getMessage() for r in caplog.records if r.name == "session_service.cache"]
    assert len([line for line in lines if "lost" in line]) == 2  # one per process


async def test_a_killed_subscriber_comes_back_with_an_empty_cache(
    throwaway_redis: StartRedis,
) -> None:
    url = throwaway_redis() + "?key_prefix=cachetest:"
    async with two_processes(url) as (a, b):
        rec = await a.create(record("u1"))
        await b.load(rec.id)
        assert len(b.cache) == 1
        await _kill_subscribers(url)
        await state_change(b, listening=False)
        await state_change(b, listening=True)
        assert len(b.cache) == 0
        heard = Heard(b)
        await a.delete(rec.id)
        await heard.until(rec.id)  # subscribed again
        assert await b.load(rec.id) is None
