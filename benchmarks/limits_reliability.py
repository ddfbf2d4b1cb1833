"""Rate limits across processes: N keys x M hits from two OS processes, 0 over-admissions.

    python -m benchmarks.limits_reliability                   # 1,000 keys x 100 hits, limit 50
    python -m benchmarks.limits_reliability --keys 100 --stores sqlite,redis

Two processes share one store (a SQLite file, a PostgreSQL database, a Redis prefix); each
sends half of every key's hits, from 32 concurrent tasks, released together once both are
connected. Every key must end with exactly ``limit`` allowed hits (the window is an hour, so
nothing leaves it): more is an over-admission, fewer an under-admission. The result is written
between the markers of the "Rate limits across processes" section of RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- limits-reliability -->", "<!-- /limits-reliability -->"
WINDOW = 3600


async def _storage(kind: str, url: str, prefix: str) -> tuple[Any, Any]:
    from session_service import SessionStoreBackend
    from session_service.limits import storage_for
    from session_service.stores.redis.limits import RedisLimitStorage

    if kind == "redis":
        import redis.asyncio

        return RedisLimitStorage(redis.asyncio.from_url(url), prefix), None
    backend = await SessionStoreBackend.connect(url)
    await backend.migrate()
    return storage_for(backend.store), backend


async def _child(kind: str, url: str, prefix: str, keys: int, hits: int, limit: int) -> None:
    from session_service.limits import RateLimiter

    storage, backend = await _storage(kind, url, prefix)
    limits = RateLimiter(storage)
    await storage.log("warm-up")
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    work = [k for k in range(keys) for _ in range(hits)]
    random.shuffle(work)
    allowed = [0] * keys
    queue = iter(work)

    async def worker() -> None:
        for k in queue:
            if (await limits.hit(f"rel:{k}", limit=limit, window=WINDOW)).allowed:
                allowed[k] += 1

    await asyncio.gather(*(worker() for _ in range(32)))
    print(json.dumps(allowed), flush=True)
    if backend is not None:
        await backend.close()


def _run_store(kind: str, url: str, keys: int, hits: int, limit: int) -> dict[str, Any]:
    prefix = f"rel:{secrets.token_hex(4)}:"
    args = [kind, url, prefix, str(keys), str(hits // 2), str(limit)]
    command = [sys.executable, "-m", "benchmarks.limits_reliability", "--child", *args]
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    t0 = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    per_process = [json.loads(proc.communicate(timeout=3600)[0]) for proc in procs]
    seconds = time.perf_counter() - t0
    totals = [a + b for a, b in zip(*per_process, strict=True)]
    if kind == "redis":
        asyncio.run(_drop_redis(url, prefix))
    return {
        "store": kind,
        "hits": keys * hits,
        "over": sum(max(0, t - limit) for t in totals),
        "under": sum(max(0, limit - t) for t in totals),
        "exact_keys": sum(t == limit for t in totals),
        "seconds": seconds,
    }


async def _drop_redis(url: str, prefix: str) -> None:
    import redis.asyncio

    client = redis.asyncio.from_url(url)
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        await client.delete(key)
    await client.aclose()


async def _pg_admin(server: str, sql: str) -> None:
    import asyncpg

    from ._common import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(server))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_url(server: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


def _report(rows: list[dict[str, Any]], keys: int, hits: int, limit: int) -> str:
    lines = [
        BEGIN,
        f"`python -m benchmarks.limits_reliability --keys {keys} --hits {hits} --limit {limit}`"
        f" ({time.strftime('%Y-%m-%d')}): {keys:,} keys x {hits} hits, limit {limit} per"
        f" {WINDOW} s, two processes x 32 tasks.",
        "",
        "| store | hits | over-admissions | under-admissions | keys at exactly the limit | s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['store']} | {r['hits']:,} | {r['over']} | {r['under']} | "
            f"{r['exact_keys']:,} of {keys:,} | {r['seconds']:.1f} |"
        )
    lines.append(END)
    return "\n".join(lines)


def _write(report: str, path: Path) -> None:
    text = path.read_text()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + report + rest.split(END, 1)[1]
    else:
        text += "\n## Rate limits across processes\n\n" + report + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.limits_reliability")
    p.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--hits", type=int, default=100, help="per key, over both processes")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--stores", default="sqlite,postgres,redis")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    p.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    p.add_argument("--output", type=Path, default=HERE / "RELIABILITY.md")
    args = p.parse_args(argv)  # fmt: skip
    if args.child:
        kind, url, prefix, keys, hits, limit = args.child
        asyncio.run(_child(kind, url, prefix, int(keys), int(hits), int(limit)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="limits-rel-") as tmp:
        for kind in args.stores.split(","):
            database = f"bench_{secrets.token_hex(5)}" if kind == "postgres" else None
            if kind == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp}/limits.sqlite"
            elif database is not None:
                asyncio.run(_pg_admin(args.pg_url, f'CREATE DATABASE "{database}"'))
                url = _pg_url(args.pg_url, database)
            else:
                url = args.redis_url
            try:
                rows.append(_run_store(kind, url, args.keys, args.hits, args.limit))
            finally:
                if database is not None:
                    drop = f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
                    asyncio.run(_pg_admin(args.pg_url, drop))
            print(rows[-1], flush=True)
    _write(_report(rows, args.keys, args.hits, args.limit), args.output)
    print(f"wrote {args.output}")
    return 0 if all(r["over"] == 0 and r["under"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
