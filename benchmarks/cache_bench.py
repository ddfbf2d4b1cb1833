"""The read cache (``SESSION_CACHE=local``): its HTTP targets, and ``python -m
benchmarks.cache_bench``, a run of only the variants those targets compare, plus how long a
revocation takes to reach another process.

* HTTP (uvicorn, one process per variant, ``wrk`` alternating the variants round after round,
  each ratio the median of the per-round ratios): Starlette's signed cookie, and on each of
  PostgreSQL and Redis the store without the cache and with it;
* revoke → refused: two cached stores on one database (two processes' worth: each its own
  channel connection) in one event loop; the first deletes a session the second has cached,
  and the time until the second's read refuses it is measured (p50 and p99 over many).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from ._common import Target, fmt, median, paired_ratio

RpsOf = Callable[[str, str], Sequence[float]]


def cache_targets(rps: RpsOf, *, pg: bool, redis: bool) -> list[Target]:
    """The cache's targets over the HTTP table's rounds (rows ``ours-*-cached``)."""
    targets: list[Target] = []
    for on, kind, name in ((pg, "pg", "PG"), (redis, "redis", "Redis")):
        if not on:
            continue
        cached, plain = f"ours-{kind}-cached", f"ours-{kind}"
        targets += [
            Target(
                f"HTTP read rps on {name}: cache on / Starlette cookie",
                paired_ratio(rps(cached, "read"), rps("cookie", "read")),
                0.9,
                higher_is_better=True,
            ),
            Target(
                f"HTTP read rps on {name}: cache on / off",
                paired_ratio(rps(cached, "read"), rps(plain, "read")),
                1.4,
                higher_is_better=True,
            ),
            Target(
                f"HTTP write rps on {name}: cache on / off",
                paired_ratio(rps(cached, "write"), rps(plain, "write")),
                0.95,
                higher_is_better=True,
            ),
        ]
    return targets


async def revoke_latency(url: str, n: int) -> list[float]:
    """Milliseconds from a delete in one process until the other refuses the session."""
    from session_service import SessionRecord, SessionStoreBackend
    from session_service.cache import CachedSessionStore
    from session_service.records import new_session_id, utcnow
    from session_service.settings import SessionSettings

    env = {"SESSION_DB_URL": url, "SESSION_CACHE": "local", "SESSION_SECRET_KEY": "b" * 40}
    settings = SessionSettings.from_env(env)
    a, b = (SessionStoreBackend.from_settings(settings).store for _ in range(2))
    assert isinstance(a, CachedSessionStore) and isinstance(b, CachedSessionStore)
    await a.migrate()
    try:
        await asyncio.wait_for(asyncio.gather(a.wait_listening(), b.wait_listening()), 10)
        out: list[float] = []
        for _ in range(n):
            rec = SessionRecord(new_session_id(), {"n": 1}, utcnow() + timedelta(hours=1))
            await a.create(rec)
            assert await b.load(rec.id) is not None  # filled
            assert await b.load(rec.id) is not None  # a hit
            heard: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def seen(keys: object, heard: asyncio.Future[None] = heard) -> None:
                if not heard.done():
                    heard.set_result(None)

            b.cache.on_revoke.append(seen)
            start = time.perf_counter()
            await a.delete(rec.id)
            await asyncio.wait_for(heard, 10)  # b's channel read the revocation
            assert await b.load(rec.id) is None  # and b refuses it
            b.cache.on_revoke.pop()
            out.append((time.perf_counter() - start) * 1e3)
        return out
    finally:
        await a.close()
        await b.close()


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    from .http_bench import ensure_wrk, run_wrk, servers
    from .redis_bench import delete_prefix, new_prefix, with_prefix

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--revocations", type=int, default=500)
    args = parser.parse_args()
    wrk = ensure_wrk()
    prefix = new_prefix("cache")
    redis_url = with_prefix(args.redis_url, prefix)
    pg_url = asyncio.run(_database(args.pg_url, create=True))
    try:
        specs = {
            "cookie": ("", ""),
            "ours-memory": ("memory://", ""),  # what a hit can reach: no store at all
            "ours-pg": (pg_url, ""),
            "ours-pg-cached": (pg_url, ""),
            "ours-redis": (redis_url, ""),
            "ours-redis-cached": (redis_url, ""),
        }
        results: dict[tuple[str, str], list[float]] = {}
        try:
            with servers(specs, new_prefix("unused")) as running:
                for server in running.values():  # warm-up: imports, pools, channels
                    for path in ("read", "write"):
                        run_wrk(wrk, f"{server.base}/{path}", server.cookie, 1, args.connections)
                cases = [(v, p) for v in running for p in ("read", "write")]
                for r in range(args.rounds):
                    for variant, path in cases if r % 2 == 0 else reversed(cases):
                        s = running[variant]
                        res = run_wrk(
                            wrk, f"{s.base}/{path}", s.cookie, args.seconds, args.connections
                        )
                        results.setdefault((variant, path), []).append(res.rps)
            print(f"HTTP, wrk -c{args.connections} {args.seconds:g} s, {args.rounds} rounds")
            for variant in specs:
                rd, wr = results[(variant, "read")], results[(variant, "write")]
                read, write = fmt(median(rd), 0), fmt(median(wr), 0)
                print(f"  {variant:18} read {read:>8} rps  write {write:>8} rps")
            for t in cache_targets(lambda v, p: results[(v, p)], pg=True, redis=True):
                status = "met" if t.met else "missed"
                print(f"  {t.name}: {fmt(t.ratio, 2)}x (goal {t.goal}, {status})")
            for kind, url in (
                ("PostgreSQL", pg_url),
                ("Redis", with_prefix(args.redis_url, prefix + "r")),
            ):
                ms = asyncio.run(revoke_latency(url, args.revocations))
                print(
                    f"  revoke -> refused on another process, {kind}: p50 "
                    f"{_percentile(ms, 50):.2f} ms, p99 {_percentile(ms, 99):.2f} ms "
                    f"({len(ms)} revocations)"
                )
        finally:
            for p in (prefix, prefix + "r"):
                asyncio.run(delete_prefix(args.redis_url, p))
    finally:
        asyncio.run(_database(pg_url, create=False))


async def _database(url: str, *, create: bool) -> str:
    """A new, migrated ``bench_*`` database on the server of ``url`` (its URL); or drop it."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from session_service import SessionStoreBackend

    from ._common import asyncpg_dsn

    server = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    name = f"bench_{secrets.token_hex(5)}" if create else make_url(url).database
    admin = await asyncpg.connect(asyncpg_dsn(server))
    try:
        if not create:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return url
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    db = make_url(url).set(database=name).render_as_string(hide_password=False)
    backend = SessionStoreBackend.from_url(db)
    await backend.migrate()
    await backend.close()
    return db


if __name__ == "__main__":
    main()
