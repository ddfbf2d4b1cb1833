"""Redis store ``load`` against its floor: a raw ``GET`` through the same redis-py pool.

Issue 11's target: a store ``load`` costs at most 1.2x the raw ``GET``. Both run in the same
process, on the same client, interleaved in rounds (A/B), so the ratio is fair on a shared
machine. ``python -m benchmarks.redis_bench [--quick] [--url redis://127.0.0.1:6379/0]``
(default URL: ``BENCH_REDIS_URL``, else the local server); it writes under a fresh key prefix
and deletes every key it wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from session_service import RedisSessionStore, SessionRecord
from session_service.records import new_session_id, utcnow


async def _per_call_us(call: Callable[[str], Awaitable[object]], ids: list[str]) -> float:
    start = time.perf_counter()
    for sid in ids:
        await call(sid)
    return (time.perf_counter() - start) / len(ids) * 1e6


async def run(url: str, sessions: int, rounds: int) -> tuple[float, float]:
    """Median µs per call of the store's ``load`` and of a raw ``GET``."""
    store = RedisSessionStore(f"{url}?key_prefix=bench_{secrets.token_hex(4)}:")
    data = {"user_id": "alice", "cart": list(range(20)), "csrf": secrets.token_hex(16)}
    ids = []
    for _ in range(sessions):
        record = SessionRecord(new_session_id(), dict(data), utcnow() + timedelta(hours=1))
        await store.create(record)
        ids.append(record.id)
    client, prefix = store.client, store.key_prefix + "s:"

    async def raw_get(sid: str) -> object:
        return await client.get(prefix + sid)

    ours, floor = [], []
    try:
        for _ in range(rounds):
            floor.append(await _per_call_us(raw_get, ids))
            ours.append(await _per_call_us(store.load, ids))
    finally:
        await store.clear_all_sessions()
        await store.close()
    return statistics.median(ours), statistics.median(floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--quick", action="store_true", help="a sanity run (seconds)")
    args = parser.parse_args()
    sessions, rounds = (200, 3) if args.quick else (5000, 15)
    ours, floor = asyncio.run(run(args.url, sessions, rounds))
    print(
        f"redis load {ours:.1f} us, raw GET {floor:.1f} us, "
        f"ratio {ours / floor:.2f} (target <= 1.2)"
    )


if __name__ == "__main__":
    main()
