"""``python -m benchmarks [--quick] [options]``: run the benchmarks, print them, write a report.

The full run (``make bench``) takes many minutes and alone writes the tracked
``benchmarks/RESULTS.md``; ``--quick`` (``make bench-quick``) uses small sizes and 1 s HTTP runs,
finishes in about a minute, and writes ``benchmarks/RESULTS-quick.md`` (untracked), as does any
run with a section skipped or a size changed. Sizes and sections are flags, so a test can run
the store micro-benchmarks alone at tiny sizes. Fewer than 3 rounds still reports every figure
but rates no target. A run that got any non-2xx HTTP answer exits non-zero without a report.
``--backends`` (default ``sqlite,postgres,redis``) picks the stores; a Redis row writes under a
fresh ``bench_*`` key prefix of ``--redis-url`` and deletes every key under it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

from ._common import BenchmarkFailed, Kind, Section, asyncpg_dsn, scratch_database
from .encryption_bench import EncryptionConfig, run_encryption_bench
from .http_bench import HttpConfig, ensure_wrk, run_http_bench
from .limits_bench import LimitsConfig, run_limits_bench
from .login_bench import LoginConfig, run_login_bench
from .pooler_bench import PoolerConfig, run_pooler_bench
from .redis_bench import redis_answers, run_redis_load_bench, server_version
from .report import MIN_RATED_ROUNDS, environment, markdown, print_report
from .scale_bench import ScaleConfig, run_scale_bench
from .store_bench import StoreConfig, run_store_bench

HERE = Path(__file__).resolve().parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


DEFAULT_BACKENDS = "sqlite,postgres,redis"
_KNOWN_BACKENDS = ("sqlite", "postgres", "redis")


def _backends(value: str) -> str:
    """``--backends``, normalized (no spaces); an unknown name is an error, not ignored."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in _KNOWN_BACKENDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown backend(s) {', '.join(unknown)}; expected some of "
            + ", ".join(_KNOWN_BACKENDS)
        )
    return ",".join(names)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, ~1 minute")
    p.add_argument(
        "--output",
        type=Path,
        help="report path (default: RESULTS.md for a full run, else RESULTS-quick.md)",
    )
    p.add_argument(
        "--backends",
        type=_backends,
        default=DEFAULT_BACKENDS,
        help="comma-separated, of sqlite, postgres and redis (default: all three); without "
        "redis, no Redis row anywhere (store, limits, HTTP, scale)",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", DEFAULT_PG),
        help="a PostgreSQL server on which bench_* databases may be created and dropped "
        "(env BENCH_PG_URL)",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        help="a Redis database the benchmarks write to, each under a fresh bench_* key prefix "
        "deleted afterwards (env BENCH_REDIS_URL)",
    )
    p.add_argument(
        "--rounds", type=int, default=3, help="A/B rounds per ratio (fewer than 3: not rated)"
    )
    p.add_argument("--ops", type=int, help="sequential store calls per case per round")
    p.add_argument("--concurrent-ops", type=int, help="store calls per case per round, 32 tasks")
    p.add_argument("--preload", type=int, help="sessions stored before the micro-benchmarks")
    p.add_argument("--no-store", action="store_true", help="skip the store micro-benchmarks")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP benchmarks (no wrk)")
    p.add_argument("--no-limits", action="store_true", help="skip the rate-limit benchmarks")
    p.add_argument(
        "--no-encryption", action="store_true", help="skip the encryption-at-rest benchmarks"
    )
    p.add_argument("--http-seconds", type=float, help="duration of one wrk run")
    p.add_argument("--scale", action=argparse.BooleanOptionalAction, help="default: full run only")
    p.add_argument("--scale-small", type=int, help="default 10,000")
    p.add_argument("--scale-large", type=int, help="default 1,000,000")
    p.add_argument("--cleanup-rows", type=int, help="expired rows for delete_expired (500,000)")
    p.add_argument("--rss-small", type=int, help="requests before the first RSS (10,000)")
    p.add_argument("--rss-large", type=int, help="requests before the second RSS (100,000)")
    p.add_argument("--workdir", type=Path, help="where SQLite files go (default: a temp dir)")
    p.add_argument(
        "--pooler",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rows through PgBouncer (when PostgreSQL is benchmarked and PgBouncer installed)",
    )
    return p


def _pick(
    value: int | float | None, quick: bool, quick_value: int | float, full: int | float
) -> float:
    if value is not None:
        return value
    return quick_value if quick else full


async def _pg_answers(url: str) -> str | None:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(asyncpg_dsn(url)), 5)
        await conn.close()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


async def _run(args: argparse.Namespace, workdir: Path) -> tuple[Section, dict[str, str]]:
    q = args.quick
    names = args.backends.split(",")
    kinds: list[Kind] = [k for k in ("sqlite", "postgres") if k in names]
    section = Section()
    extra: dict[str, str] = {}
    redis_url: str | None = args.redis_url if "redis" in names else None
    if redis_url is not None:
        why = await redis_answers(redis_url)
        if why is not None:
            redis_url = None
            section.notes.append(
                f"Redis at {args.redis_url} did not answer ({why}): no Redis row anywhere."
            )
        else:
            extra["redis"] = await server_version(redis_url)
    if "postgres" in kinds:
        why = await _pg_answers(args.pg_url)
        if why is not None:
            kinds.remove("postgres")
            section.notes.append(f"PostgreSQL at {args.pg_url} did not answer ({why}): skipped.")
        else:
            conn = await asyncpg.connect(asyncpg_dsn(args.pg_url))
            extra["postgresql"] = str(await conn.fetchval("SHOW server_version"))
            await conn.close()
    rounds = max(1, args.rounds)
    if not args.no_store:
        cfg = StoreConfig(
            ops=int(_pick(args.ops, q, 300, 2000)),
            concurrent_ops=int(_pick(args.concurrent_ops, q, 640, 4000)),
            rounds=rounds,
            preload=int(_pick(args.preload, q, 2000, 10_000)),
        )
        for kind in kinds:
            async with scratch_database(kind, args.pg_url, workdir) as url:
                section.extend(await run_store_bench(kind, url, cfg))
        if redis_url is not None:
            section.extend(await run_redis_load_bench(redis_url, cfg))
        login_cfg = LoginConfig(logins=int(_pick(args.ops, q, 300, 2000)), rounds=rounds)
        section.extend(await run_login_bench(kinds, args.pg_url, redis_url, workdir, login_cfg))
    if not args.no_limits:
        limits_cfg = LimitsConfig(ops=int(_pick(args.ops, q, 300, 2000)), rounds=rounds)
        section.extend(await run_limits_bench(kinds, args.pg_url, redis_url, workdir, limits_cfg))
    if not args.no_encryption:
        enc_cfg = EncryptionConfig(ops=int(_pick(args.ops, q, 300, 2000)), rounds=rounds)
        section.extend(await run_encryption_bench(kinds, args.pg_url, redis_url, workdir, enc_cfg))
    wrk: str | None = None
    if not args.no_http:
        wrk = ensure_wrk()
        extra["wrk"] = "wrk -t1 -c32 on 127.0.0.1; uvicorn with --factory, one process"
        http_cfg = HttpConfig(
            seconds=_pick(args.http_seconds, q, 1, 10), rounds=rounds, warmup=not q
        )
        async with (
            scratch_database("sqlite", args.pg_url, workdir) as lite_url,
            scratch_database("postgres", args.pg_url, workdir)
            if "postgres" in kinds
            else _nothing() as pg_url,
        ):
            await _migrate(lite_url)
            if pg_url:
                await _migrate(pg_url)
            section.extend(
                await asyncio.to_thread(run_http_bench, http_cfg, pg_url, lite_url, redis_url)
            )
    if args.pooler and "postgres" in kinds:
        pooler_cfg = PoolerConfig(
            ops=int(_pick(args.ops, q, 300, 2000)),
            rounds=rounds,
            preload=int(_pick(args.preload, q, 2000, 10_000)),
            http_seconds=0 if args.no_http else _pick(args.http_seconds, q, 1, 10),
        )
        section.extend(await run_pooler_bench(args.pg_url, workdir, pooler_cfg, wrk))
    if args.scale if args.scale is not None else not q:
        scale = ScaleConfig(
            small=int(_pick(args.scale_small, q, 1000, 10_000)),
            large=int(_pick(args.scale_large, q, 20_000, 1_000_000)),
            cleanup_rows=int(_pick(args.cleanup_rows, q, 20_000, 500_000)),
            rss_small=int(_pick(args.rss_small, q, 1000, 10_000)),
            rss_large=int(_pick(args.rss_large, q, 5000, 100_000)),
            ops=300 if q else 1000,
            rounds=rounds,
            idle_seconds=1.0 if q else 3.0,
        )
        section.extend(await run_scale_bench(kinds, args.pg_url, workdir, scale, wrk, redis_url))
    return section, extra


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def _migrate(url: str) -> None:
    from session_service import SessionStoreBackend

    b = await SessionStoreBackend.connect(url)
    try:
        await b.migrate()
    finally:
        await b.close()


#: Flags that make a run smaller than the full one (its report must not replace RESULTS.md).
_PARTIAL = (
    "ops",
    "concurrent_ops",
    "preload",
    "http_seconds",
    "scale_small",
    "scale_large",
    "cleanup_rows",
    "rss_small",
    "rss_large",
)


def default_output(args: argparse.Namespace) -> Path:
    """``RESULTS.md`` for the full run alone; every smaller run writes ``RESULTS-quick.md``."""
    full = (
        not args.quick
        and not args.no_store
        and not args.no_http
        and args.scale is not False
        and args.backends == DEFAULT_BACKENDS
        and args.rounds >= MIN_RATED_ROUNDS
        and all(getattr(args, name) is None for name in _PARTIAL)
    )
    return HERE / ("RESULTS.md" if full else "RESULTS-quick.md")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rated = args.rounds >= MIN_RATED_ROUNDS
    if not rated:
        print(
            f"note: fewer than {MIN_RATED_ROUNDS} rounds: figures are reported, targets not rated",
            file=sys.stderr,
        )
    output: Path = args.output or default_output(args)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="session-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            section, extra = asyncio.run(_run(args, workdir))
        except BenchmarkFailed as exc:
            print(f"benchmark failed, no report written: {exc}", file=sys.stderr)
            return 1
    extra["run time"] = f"{time.perf_counter() - t0:.0f} s"
    print_report(section, rated)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown(section, command, environment(extra), rated))
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
