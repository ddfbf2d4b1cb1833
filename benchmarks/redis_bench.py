"""Redis store ``load`` against its floor: a raw ``GET`` on a connection of the same pool.

Issue 11's target: a store ``load`` costs at most 1.2x the raw ``GET``. Both run in the same
process, on the same client (``store.client``, the store's own pool), as alternating A/B
rounds (:func:`~benchmarks._common.ab_rounds`), so the ratio is fair on a shared machine. The
main run (``python -m benchmarks``) includes it when Redis is among ``--backends`` and answers;
``python -m benchmarks.redis_bench [--quick] [--url URL]`` runs it alone.

Also what every Redis benchmark shares: a scratch key prefix per use (:func:`redis_scratch`),
deleted afterwards with every key under it, and a bulk load through the store's own ``create``
(the key layout is the store's business, so nothing here writes keys by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import secrets
import sys
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis

from session_service import RedisSessionStore, SessionRecord
from session_service.records import new_session_id, utcnow
from session_service.storable import at_rest_id
from session_service.stores.redis.pool import run_command

from ._common import (
    Op,
    Section,
    Table,
    Target,
    fmt,
    fmt_ratio,
    median,
    paired_ratio,
    session_data,
)
from .store_bench import TTL, StoreConfig, measure_ops

DEFAULT_URL = "redis://127.0.0.1:6379/15"
#: Concurrent ``create`` calls of a bulk load: fewer than the store pool's 50 connections, so
#: no call waits for one (at 64 tasks, a run of 1M creates saw one wait past the pool's 5 s
#: timeout: "No connection available").
BULK_TASKS = 48
FLOOR = (
    "Redis load floor: a raw `GET` of the session's key on a connection of the store's own "
    "redis-py pool, sent the way the store sends it (`stores/redis/pool.run_command`: no retry "
    "wrapper), no decoding; the store's `load` is that `GET` plus parsing the value into a "
    "`SessionRecord`. `client.get` (redis-py's full command path) is shown beside it."
)


def new_prefix(label: str = "") -> str:
    """A fresh key prefix ``bench_<hex>[_label]:`` (no glob characters, so SCAN can match it)."""
    return f"bench_{secrets.token_hex(5)}{'_' + label if label else ''}:"


def with_prefix(url: str, prefix: str) -> str:
    """``url`` with ``?key_prefix=prefix`` (which wins over ``SESSION_REDIS_KEY_PREFIX``)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "key_prefix"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("key_prefix", prefix)])))


async def delete_prefix(url: str, prefix: str) -> int:
    """UNLINK every key of the database at ``url`` that starts with ``prefix``; how many."""
    client = aioredis.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await client.unlink(*batch)
                batch = []
        if batch:
            deleted += await client.unlink(*batch)
    finally:
        await client.aclose()
    return deleted


async def redis_answers(url: str) -> str | None:
    """``None`` if Redis answers at ``url``, else why not."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()


async def server_version(url: str) -> str:
    client = aioredis.Redis.from_url(url)
    try:
        return str((await client.info("server")).get("redis_version", "unknown"))
    finally:
        await client.aclose()


async def used_memory(store: RedisSessionStore) -> int:
    """Bytes the Redis server holds (``INFO memory``'s ``used_memory``)."""
    return int((await store.client.info("memory"))["used_memory"])


@contextlib.asynccontextmanager
async def redis_scratch(url: str, label: str = "") -> AsyncIterator[RedisSessionStore]:
    """A store under a fresh key prefix on ``url``; every key under it is deleted after."""
    prefix = new_prefix(label)
    store = RedisSessionStore(with_prefix(url, prefix))
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()
        await delete_prefix(url, prefix)


async def bulk_create(
    store: RedisSessionStore,
    n: int,
    *,
    users: int = 1000,
    user_prefix: str = "user-",
    tasks: int = BULK_TASKS,
) -> list[str]:
    """Create ``n`` live sessions of ``users`` users with ``tasks`` concurrent ``create`` calls;
    their ids, in creation order."""
    expiry = utcnow() + TTL
    ids: list[str] = [""] * n
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            record = SessionRecord(
                new_session_id(), session_data(f"{user_prefix}{i % users}"), expiry
            )
            ids[i] = (await store.create(record)).id

    await asyncio.gather(*(worker() for _ in range(min(tasks, max(1, n)))))
    return ids


async def run_redis_load_bench(url: str, cfg: StoreConfig) -> Section:
    """Store ``load`` vs a raw ``GET`` on ``cfg.preload`` sessions, sequential and at
    ``cfg.tasks`` tasks, in alternating rounds."""
    async with redis_scratch(url, "load") as store:
        ids = await bulk_create(store, cfg.preload)
        random.Random(5).shuffle(ids)
        client, key_prefix = store.client, store.key_prefix + "s:"
        keys = [key_prefix + at_rest_id(sid) for sid in ids]  # where the store files them

        async def ours(i: int) -> object:
            return await store.load(ids[i % len(ids)])

        async def raw_get(i: int) -> object:
            return await run_command(client.connection_pool, "GET", keys[i % len(keys)])

        async def client_get(i: int) -> object:
            return await client.get(keys[i % len(keys)])

        ops: dict[str, Op] = {
            "ours load": ours,
            "raw GET (same pool)": raw_get,
            "redis-py client.get": client_get,
        }
        for op in ops.values():  # warm the pool
            for i in range(50):
                await op(i)
        seq, conc = await measure_ops(ops, ops, cfg)
    seq_ratio = paired_ratio(seq["ours load"], seq["raw GET (same pool)"])
    conc_ratio = paired_ratio(conc["raw GET (same pool)"], conc["ours load"])  # time ratio
    table = Table(
        f"Store, Redis: {cfg.preload:,} sessions stored; µs per call, sequential; calls/s at "
        f"{cfg.tasks} tasks (median of {cfg.rounds} rounds)",
        ["operation", "µs/call (seq)", "vs floor (seq)", "calls/s (32 tasks)", "vs floor (32)"],
        [
            [name, fmt(median(seq[name])), fmt_ratio(s), fmt(median(conc[name]), 0), fmt_ratio(c)]
            for name, s, c in (
                ("ours load", seq_ratio, conc_ratio),
                ("raw GET (same pool)", None, None),
                ("redis-py client.get", None, None),
            )
        ],
        note="ours load: RedisSessionStore.load of a random live id; raw GET (same pool): the "
        "floor, a GET of the same key sent as the store sends it; redis-py client.get: the same "
        "GET through redis-py's command path (retries, callbacks); 'vs floor' is ours ÷ floor "
        "in time per call.",
    )
    section = Section(tables=[table], floors=[FLOOR])
    section.targets.append(
        Target(
            "Redis load / raw GET (same redis-py pool)",
            seq_ratio,
            1.2,
            detail=f"sequential; at {cfg.tasks} tasks: {fmt_ratio(conc_ratio)}",
        )
    )
    return section


def main(argv: list[str] | None = None) -> int:
    from .report import MIN_RATED_ROUNDS, print_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_URL))
    parser.add_argument("--quick", action="store_true", help="a sanity run (seconds)")
    parser.add_argument("--rounds", type=int, help="A/B rounds (default 3; fewer: not rated)")
    args = parser.parse_args(argv)
    cfg = (
        StoreConfig(ops=300, concurrent_ops=640, preload=2000)
        if args.quick
        else StoreConfig(ops=5000, concurrent_ops=10_000, preload=10_000, rounds=7)
    )
    if args.rounds is not None:
        cfg = dataclasses.replace(cfg, rounds=max(1, args.rounds))
    why = asyncio.run(redis_answers(args.url))
    if why is not None:
        print(f"Redis did not answer at {args.url} ({why})", file=sys.stderr)
        return 1
    print_report(asyncio.run(run_redis_load_bench(args.url, cfg)), cfg.rounds >= MIN_RATED_ROUNDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
