"""Rate-limit benchmarks, each against its reference in the same run (A/B rounds).

* ``hit`` vs a session ``touch`` on the same store (SQLite, PostgreSQL): a limit check should
  cost about what the middleware's cheapest write costs (target: hit ≤ 1.2x touch, µs/call).
* On Redis, ours vs the ``limits`` library's moving window on the same server, both exact
  sliding windows, 32 concurrent tasks (target: ≥ 1.0x its hits/s).

Keys cycle over 1,000 per case, limit 60 per 60 s, so most hits are allowed (the common case).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from session_service import SessionStoreBackend
from session_service.limits import RateLimiter, storage_for
from session_service.stores.redis.limits import RedisLimitStorage

from ._common import (
    Kind,
    Op,
    Section,
    Table,
    Target,
    ab_rounds,
    bulk_load,
    concurrent_ops_per_s,
    fmt,
    fmt_ratio,
    median,
    paired_ratio,
    scratch_database,
    sequential_us,
)

KEYS = 1000
LIMIT, WINDOW = 60, 60


@dataclass(frozen=True)
class LimitsConfig:
    ops: int = 2000  # calls per case per round
    tasks: int = 32
    rounds: int = 3


async def _sql_case(kind: Kind, url: str, cfg: LimitsConfig) -> tuple[list[str], Target]:
    backend = await SessionStoreBackend.connect(url)
    try:
        await backend.migrate()
        ids = await bulk_load(kind, url, KEYS)
        limits = RateLimiter(storage_for(backend.store))
        expiry = datetime.now(UTC) + timedelta(days=1)
        salt = secrets.token_hex(4)

        def hit(i: int) -> Any:
            return limits.hit(f"bench:{salt}:{i % KEYS}", limit=LIMIT, window=WINDOW)

        def touch(i: int) -> Any:
            return backend.touch(ids[i % KEYS], expiry + timedelta(microseconds=i))

        seen = await ab_rounds(
            {
                "hit": lambda r: sequential_us(hit, cfg.ops, r * cfg.ops),
                "touch": lambda r: sequential_us(touch, cfg.ops, r * cfg.ops),
            },
            cfg.rounds,
        )
    finally:
        await backend.close()
    ratio = paired_ratio(seen["hit"], seen["touch"])
    row = [kind, fmt(median(seen["hit"])), fmt(median(seen["touch"])), fmt_ratio(ratio)]
    return row, Target(f"{kind}: limits.hit vs session touch (µs/call)", ratio, 1.2)


async def _redis_case(redis_url: str, cfg: LimitsConfig) -> tuple[list[str], Target]:
    import redis.asyncio
    from limits import RateLimitItemPerMinute
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter

    prefix = f"bench:{secrets.token_hex(4)}:"
    client = redis.asyncio.from_url(redis_url)  # a plain pool, as the `limits` storage makes
    theirs_storage = RedisStorage(
        "async+" + redis_url, implementation="redispy", key_prefix=prefix + "theirs"
    )
    theirs = MovingWindowRateLimiter(theirs_storage)
    item = RateLimitItemPerMinute(LIMIT)
    ours = RateLimiter(RedisLimitStorage(client, prefix + "ours:"))

    async def ours_hit(i: int) -> Any:
        return await ours.hit(f"k{i % KEYS}", limit=LIMIT, window=WINDOW)

    async def theirs_hit(i: int) -> Any:
        return await theirs.hit(item, f"k{i % KEYS}")

    def rate(op: Op) -> Callable[[int], Awaitable[float]]:
        return lambda r: concurrent_ops_per_s(op, cfg.ops, cfg.tasks, r * cfg.ops)

    try:
        seen = await ab_rounds({"ours": rate(ours_hit), "limits": rate(theirs_hit)}, cfg.rounds)
    finally:
        async for key in client.scan_iter(match=prefix + "*", count=1000):
            await client.delete(key)
        async for key in client.scan_iter(match="LIMITS*" + prefix + "*", count=1000):
            await client.delete(key)
        await client.aclose()
    ratio = paired_ratio(seen["ours"], seen["limits"])
    row = ["redis", fmt(median(seen["ours"]), 0), fmt(median(seen["limits"]), 0), fmt_ratio(ratio)]
    target = Target("redis: limits.hit vs `limits` moving window (hits/s)", ratio, 1.0, True)
    return row, target


async def run_limits_bench(
    kinds: list[Kind], pg_url: str, redis_url: str | None, workdir: Path, cfg: LimitsConfig
) -> Section:
    section = Section()
    sql = Table(
        "Rate limits: hit vs session touch, same store (sequential)",
        ["store", "hit µs", "touch µs", "hit/touch"],
    )
    for kind in kinds:
        async with scratch_database(kind, pg_url, workdir) as url:
            row, target = await _sql_case(kind, url, cfg)
        sql.rows.append(row)
        section.targets.append(target)
    section.tables.append(sql)
    if redis_url:
        try:
            row, target = await _redis_case(redis_url, cfg)
        except OSError as exc:
            section.notes.append(f"Redis at {redis_url} did not answer ({exc}): skipped.")
        else:
            section.tables.append(
                Table(
                    f"Rate limits on Redis, {cfg.tasks} tasks",
                    ["store", "ours hits/s", "`limits` hits/s", "ours/theirs"],
                    [row],
                )
            )
            section.targets.append(target)
    return section
