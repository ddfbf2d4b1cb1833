"""HTTP rows per core: the app held to one core, the load generator to another.

On an unpinned run the database's commit flush can be the bottleneck, and then the floor and
ours serve the same rate whatever the library costs in CPU. Here the uvicorn process runs under
``taskset -c 0`` and ``wrk`` (``-t1 -c32``) under ``taskset -c 1``, so each row is what one core
of the app serves: the library's per-request CPU shows in full. The cases alternate round after
round (A B … then … B A) and each ratio is the median of the per-round ratios. Beside each
rate, the app process's CPU time per request (user + system from ``/proc/PID/stat`` over the
run, divided by the requests wrk counted): steadier than the rate on a shared machine, and its
ratio (the reference's CPU per request ÷ ours, so above 1.00 is cheaper, like the rps ratios)
is printed beside the rps ratio.

``python -m benchmarks.per_core`` runs this section alone (its table and targets printed).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ._common import (
    Section,
    Table,
    Target,
    add_round_flags,
    add_server_flags,
    alternating,
    fmt,
    fmt_ratio,
    median,
    paired_ratio,
    scratch_database,
)
from ._proc_cpu import cpu_seconds, per_request_us
from .http_bench import (
    ROOT,
    Server,
    ensure_wrk,
    run_wrk,
    start_server,
    stop_server,
)
from .redis_bench import delete_prefix, new_prefix, with_prefix

APP_CPU, LOAD_CPU = 0, 1


@dataclass(frozen=True)
class Run:
    """One wrk run against one app: its rate and the app's CPU per request over it."""

    rps: float
    cpu_us: float


@dataclass(frozen=True)
class PerCoreConfig:
    seconds: float = 5.0
    rounds: int = 5
    connections: int = 32


def run_per_core_bench(
    cfg: PerCoreConfig, pg_url: str | None, sqlite_url: str, redis_url: str | None
) -> Section:
    """The per-core table and its targets (``None`` URLs skip those rows)."""
    ours_prefix, star_prefix = new_prefix("percore"), new_prefix("starsessions")
    try:
        return _run(cfg, pg_url, sqlite_url, redis_url, ours_prefix, star_prefix)
    finally:
        if redis_url is not None:
            for prefix in (ours_prefix, star_prefix):
                asyncio.run(delete_prefix(redis_url, prefix))


def _run(
    cfg: PerCoreConfig,
    pg_url: str | None,
    sqlite_url: str,
    redis_url: str | None,
    ours_prefix: str,
    star_prefix: str,
) -> Section:
    wrk = ensure_wrk()
    specs: dict[str, tuple[str, str]] = {"cookie": ("", ""), "ours-sqlite": (sqlite_url, "")}
    if pg_url:
        specs["floor"] = (pg_url, "")
        specs["ours-pg"] = (pg_url, "")
    if redis_url is not None:
        specs["starsessions-redis"] = ("", redis_url)
        specs["ours-redis"] = (with_prefix(redis_url, ours_prefix), "")
    running: dict[str, Server] = {}
    results: dict[tuple[str, str], list[Run]]
    try:
        for variant, (db_url, r_url) in specs.items():
            running[variant] = start_server(variant, db_url, r_url, star_prefix, cpu=APP_CPU)
        for server in running.values():  # imports, pools, prepared statements
            for path in ("read", "write"):
                run_wrk(
                    wrk, f"{server.base}/{path}", server.cookie, 1, cfg.connections, cpu=LOAD_CPU
                )
        cases = [(v, p) for v in running for p in ("read", "write")]
        results = alternating(
            cases,
            cfg.rounds,
            lambda case: measured_run(wrk, running[case[0]], case[1], cfg.seconds, cfg.connections),
        )
    finally:
        for server in running.values():
            stop_server(server)
    return per_core_section(cfg, list(specs), results, bool(pg_url), redis_url is not None)


def measured_run(wrk: str, server: Server, path: str, seconds: float, connections: int) -> Run:
    """One wrk run on ``server``'s ``/path``, with the app process's CPU time read on either
    side of it (``taskset`` execs the interpreter, so the process is the one started)."""
    pid = server.proc.pid
    before = cpu_seconds(pid)
    res = run_wrk(wrk, f"{server.base}/{path}", server.cookie, seconds, connections, cpu=LOAD_CPU)
    return Run(res.rps, per_request_us(before, cpu_seconds(pid), res.requests))


def per_core_section(
    cfg: PerCoreConfig,
    variants: list[str],
    results: Mapping[tuple[str, str], list[Run]],
    with_pg: bool,
    with_redis: bool,
) -> Section:
    """The table (rates and CPU per request), the CPU ratios and the rps targets of one run."""

    def rps(variant: str, path: str) -> list[float]:
        return [x.rps for x in results[(variant, path)]]

    def cpu(variant: str, path: str) -> list[float]:
        return [x.cpu_us for x in results[(variant, path)]]

    table = Table(
        f"HTTP per core: uvicorn under `taskset -c {APP_CPU}`, wrk -t1 -c{cfg.connections} under "
        f"`taskset -c {LOAD_CPU}`, {cfg.seconds:g} s per run, median of {cfg.rounds} rounds",
        ["variant", "read rps", "write rps", "read CPU µs/req", "write CPU µs/req"],
    )
    for variant in variants:
        table.rows.append(
            [
                variant,
                fmt(median(rps(variant, "read")), 0),
                fmt(median(rps(variant, "write")), 0),
                fmt(median(cpu(variant, "read")), 1),
                fmt(median(cpu(variant, "write")), 1),
            ]
        )
    table.note = (
        "The same apps as the unpinned HTTP table (benchmarks/apps.py), each its own uvicorn "
        "process, all on one core (idle ones cost nothing); the database and Redis servers are "
        "not pinned. On a machine with two cores the servers share them with the app and wrk. "
        "CPU µs/req: the app process's user + system time over each run (/proc/PID/stat) "
        "divided by the requests wrk counted; a database server's own CPU is not in it."
    )
    ratios = Table(
        "HTTP per core, ours against its reference (medians of per-round ratios, same run)",
        ["pair", "path", "rps ours ÷ ref", "CPU/req ref ÷ ours", "CPU rounds"],
        note="Both ratios above 1.00 mean ours is the cheaper; the CPU ratio moves less with "
        "what else runs on the machine.",
    )
    section = Section(tables=[table, ratios])
    pairs = [("ours-sqlite", "cookie", "ours-on-SQLite / Starlette cookie", 0.95, 0.75)]
    if with_pg:
        pairs.append(("ours-pg", "floor", "ours-on-PG / floor", 0.95, 0.9))
    if with_redis:
        pairs.append(("ours-redis", "starsessions-redis", "ours-on-Redis / starsessions", 1.5, 1.5))
    for ours, base, name, read_goal, write_goal in pairs:
        for path, goal in (("read", read_goal), ("write", write_goal)):
            a, b = rps(ours, path), rps(base, path)
            cpu_ratio = paired_ratio(cpu(base, path), cpu(ours, path))
            section.targets.append(
                Target(
                    f"HTTP {path} rps per core: {name}",
                    paired_ratio(a, b),
                    goal,
                    True,
                    detail=f"{_spread(a, b)}; CPU/req ref ÷ ours {fmt_ratio(cpu_ratio)}",
                )
            )
            ratios.rows.append(
                [
                    name,
                    path,
                    fmt_ratio(paired_ratio(a, b)),
                    fmt_ratio(cpu_ratio),
                    _spread(cpu(base, path), cpu(ours, path)).removeprefix("rounds "),
                ]
            )
    return section


def pinned_rounds(
    specs: dict[str, tuple[str, str]],
    rounds: int,
    seconds: float,
    connections: int = 32,
    roots: Mapping[str, Path] | None = None,
    login: bool = False,
) -> dict[tuple[str, str], list[float]]:
    """Read and write rps of each ``label: (variant, db_url)``, the apps under ``taskset -c``
    :data:`APP_CPU` and wrk under :data:`LOAD_CPU`, the cases alternating round after round
    (the harness of this module's table, for the separate runs that compare other variants).
    ``roots``: the code tree of a label's app where it is not this one; ``login``: each
    session signed in by a login (both: ``start_server``)."""
    wrk = ensure_wrk()
    running = {
        label: start_server(v, url, cpu=APP_CPU, root=(roots or {}).get(label, ROOT), login=login)
        for label, (v, url) in specs.items()
    }
    try:
        for server in running.values():  # warm-up: imports, pools, prepared statements
            for path in ("read", "write"):
                run_wrk(wrk, f"{server.base}/{path}", server.cookie, 1, connections, cpu=LOAD_CPU)

        def one(case: tuple[str, str]) -> float:
            server, path = running[case[0]], case[1]
            url = f"{server.base}/{path}"
            return run_wrk(wrk, url, server.cookie, seconds, connections, cpu=LOAD_CPU).rps

        cases = [(label, path) for path in ("read", "write") for label in running]
        return alternating(cases, rounds, one)
    finally:
        for server in running.values():
            stop_server(server)


def _spread(a: list[float], b: list[float]) -> str:
    ratios = sorted(x / y for x, y in zip(a, b, strict=False) if y)
    return f"rounds {ratios[0]:.2f} to {ratios[-1]:.2f}" if ratios else ""


async def _migrate(url: str) -> None:
    from session_service import SessionStoreBackend

    backend = await SessionStoreBackend.connect(url)
    try:
        await backend.migrate()
    finally:
        await backend.close()


async def _main(args: argparse.Namespace) -> Section:
    cfg = PerCoreConfig(seconds=args.seconds, rounds=args.rounds)
    with tempfile.TemporaryDirectory(prefix="session-percore-") as tmp:
        work = Path(tmp)
        async with scratch_database("sqlite", args.pg_url, work) as lite:
            await _migrate(lite)
            if args.no_pg:
                return await asyncio.to_thread(
                    run_per_core_bench, cfg, None, lite, None if args.no_redis else args.redis_url
                )
            async with scratch_database("postgres", args.pg_url, work) as pg:
                await _migrate(pg)
                redis = None if args.no_redis else args.redis_url
                return await asyncio.to_thread(run_per_core_bench, cfg, pg, lite, redis)


def main(argv: list[str] | None = None) -> int:
    from .report import print_report

    p = argparse.ArgumentParser(prog="python -m benchmarks.per_core")
    add_round_flags(p)
    add_server_flags(p, skips=True)
    args = p.parse_args(argv)
    print_report(asyncio.run(_main(args)), args.rounds >= 3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
