"""Through PgBouncer: the store and the HTTP read path behind a transaction pooler, each as a
ratio to the direct connection measured in the same run (the cases alternate round by round).

The pooled store is configured as a user would (nothing but the URL): it detects the pooler on
its first statements and switches to unnamed statements, which still take one round trip each
(see ``session_service/stores/sql/pooler.py``). The extra hop through PgBouncer is the cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from session_service import SessionRecord, SessionStoreBackend

from ._common import (
    Section,
    Table,
    Target,
    ab_rounds,
    bulk_load,
    fmt,
    fmt_ratio,
    median,
    paired_ratio,
    scratch_database,
    sequential_us,
    session_data,
)
from ._pgbouncer import PgBouncerMissing, pgbouncer, through
from .http_bench import Server, run_wrk, start_server, stop_server

TTL = timedelta(days=14)


@dataclass(frozen=True)
class PoolerConfig:
    ops: int = 2000  # sequential calls per case per round
    rounds: int = 3
    preload: int = 10_000
    http_seconds: float = 10.0  # one wrk run; 0 skips the HTTP row
    connections: int = 32


async def run_pooler_bench(
    pg_server: str, workdir: Path, cfg: PoolerConfig, wrk: str | None
) -> Section:
    """The "through PgBouncer" table and its targets (a note instead without PgBouncer)."""
    section = Section()
    try:
        with pgbouncer(pg_server) as where:
            async with scratch_database("postgres", pg_server, workdir) as url:
                await _measure(section, url, through(url, where), cfg, wrk)
    except PgBouncerMissing as exc:
        section.notes.append(f"No rows through PgBouncer: {exc}.")
    return section


async def _measure(
    section: Section, direct_url: str, pooled_url: str, cfg: PoolerConfig, wrk: str | None
) -> None:
    direct = await SessionStoreBackend.connect(direct_url)
    pooled = await SessionStoreBackend.connect(pooled_url)
    try:
        await direct.migrate()
        ids = await bulk_load("postgres", direct_url, cfg.preload)

        def ops(b: SessionStoreBackend) -> dict[str, Callable[[int], Awaitable[object]]]:
            def record(i: int) -> SessionRecord:
                sid = ids[i % len(ids)]
                return SessionRecord(sid, session_data(f"u{i % 100}"), datetime.now(UTC) + TTL)

            return {
                "load": lambda i: b.load(ids[i % len(ids)]),
                "update": lambda i: b.update(record(i)),
            }

        cases = {f"{where} {name}": op for where, b in (("direct", direct), ("pgbouncer", pooled))
                 for name, op in ops(b).items()}  # fmt: skip
        for op in cases.values():  # warm the pools, prepared statements (and the detection)
            for i in range(50):
                await op(i)

        def case(op: Callable[[int], Awaitable[object]]) -> Callable[[int], Awaitable[float]]:
            return lambda r: sequential_us(op, cfg.ops, start=r * cfg.ops)

        seq = await ab_rounds({n: case(op) for n, op in cases.items()}, cfg.rounds)
    finally:
        await direct.close()
        await pooled.close()
    rps = await asyncio.to_thread(_http_reads, direct_url, pooled_url, cfg, wrk)
    table = Table(
        f"Through PgBouncer 1.x (pool_mode = transaction, nothing set but the URL): µs per call, "
        f"sequential, and HTTP read rps (median of {cfg.rounds} rounds)",
        ["operation", "direct", "through PgBouncer", "ratio (time)"],
    )
    for name in ("load", "update"):
        d, p = seq[f"direct {name}"], seq[f"pgbouncer {name}"]
        ratio = paired_ratio(p, d)
        table.rows.append([f"{name} µs", fmt(median(d)), fmt(median(p)), fmt_ratio(ratio)])
        section.targets.append(
            Target(f"PG {name} through PgBouncer / direct", ratio, 2.0, detail="sequential µs")
        )
    if rps is not None:
        d_rps, p_rps = rps
        ratio = paired_ratio(d_rps, p_rps)  # time per request, like the rows above
        table.rows.append(["HTTP read rps", fmt(median(d_rps), 0), fmt(median(p_rps), 0),
                           fmt_ratio(ratio)])  # fmt: skip
        section.targets.append(
            Target("HTTP read through PgBouncer / direct", ratio, 2.0, detail="time per request")
        )
    table.note = (
        "ratio: time through PgBouncer ÷ time direct (1.00x = no cost), the median of the "
        "per-round ratios. The extra network hop is the cost; unnamed statements add no round "
        "trip (Parse is sent again in the same packet as Bind/Execute)."
    )
    section.tables.append(table)


def _http_reads(
    direct_url: str, pooled_url: str, cfg: PoolerConfig, wrk: str | None
) -> tuple[list[float], list[float]] | None:
    if wrk is None or cfg.http_seconds <= 0:
        return None
    started: list[Server] = []
    try:
        for url in (direct_url, pooled_url):
            started.append(start_server("ours-pg", url))
        out: tuple[list[float], list[float]] = ([], [])
        for server in started:  # warm-up (and the pooler detection)
            run_wrk(wrk, f"{server.base}/read", server.cookie, 1, cfg.connections)
        for r in range(cfg.rounds):
            order = [0, 1] if r % 2 == 0 else [1, 0]
            for i in order:
                server = started[i]
                res = run_wrk(
                    wrk, f"{server.base}/read", server.cookie, cfg.http_seconds, cfg.connections
                )
                out[i].append(res.rps)
        return out
    finally:
        for server in started:
            stop_server(server)
