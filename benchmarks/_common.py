"""What every benchmark module shares: timing, A/B rounds, scratch databases, bulk loading.

Ratios are only ever taken between figures of the same run: :func:`ab_rounds` runs every case
once per round, alternating the order (A B C, then C B A, ...) so slow drift of a noisy machine
hits all cases alike, and a ratio is the median over rounds of the per-round ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

Kind = Literal["sqlite", "postgres"]
Op = Callable[[int], Awaitable[object]]
SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a naive UTC DateTime on SQLite
#: The servers a benchmark uses unless ``BENCH_PG_URL`` / ``BENCH_REDIS_URL`` (or a flag) say.
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def add_server_flags(
    p: argparse.ArgumentParser, *, redis: bool = True, skips: bool = False
) -> None:
    """``--pg-url`` and (``redis``) ``--redis-url``, defaulting to ``BENCH_PG_URL`` and
    ``BENCH_REDIS_URL``, else the local servers; ``skips``: ``--no-pg`` (and ``--no-redis``)
    too, for a run without that server."""
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    if redis:
        p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    if skips:
        p.add_argument("--no-pg", action="store_true")
        if redis:
            p.add_argument("--no-redis", action="store_true")


def add_round_flags(p: argparse.ArgumentParser, *, rounds: int = 5) -> None:
    """``--seconds`` each case runs per round (5) and ``--rounds`` of A/B (fewer than 3: the
    figures are shown, no target is rated)."""
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=rounds)


# -- results -----------------------------------------------------------------------------


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


@dataclass
class Target:
    name: str
    ratio: float | None
    limit: float
    higher_is_better: bool = False
    detail: str = ""

    @property
    def met(self) -> bool | None:
        if self.ratio is None:
            return None
        return self.ratio >= self.limit if self.higher_is_better else self.ratio <= self.limit

    @property
    def goal(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'}{self.limit:g}x"


@dataclass
class Section:
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: One line per floor a ratio is taken against: what it does (the report prints them).
    floors: list[str] = field(default_factory=list)

    def extend(self, other: Section) -> None:
        self.tables += other.tables
        self.targets += other.targets
        self.notes += other.notes
        self.floors += other.floors


class BenchmarkFailed(Exception):
    """The run measured something other than what it claims (e.g. non-2xx answers): no report."""


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Median over rounds of ``a[i] / b[i]`` (the rounds were measured side by side)."""
    pairs = [x / y for x, y in zip(a, b, strict=False) if y]
    return statistics.median(pairs) if pairs else None


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


# -- timing ------------------------------------------------------------------------------


async def sequential_us(op: Op, n: int, start: int = 0) -> float:
    """Mean microseconds per call of ``op`` run ``n`` times one after another."""
    t0 = time.perf_counter()
    for i in range(start, start + n):
        await op(i)
    return (time.perf_counter() - t0) / n * 1e6


async def concurrent_ops_per_s(op: Op, n: int, tasks: int, start: int = 0) -> float:
    """Calls per second of ``op`` when ``tasks`` tasks share ``n`` calls."""
    counter = iter(range(start, start + n))

    async def worker() -> None:
        for i in counter:
            await op(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return n / (time.perf_counter() - t0)


async def ab_rounds(
    cases: dict[str, Callable[[int], Awaitable[float]]], rounds: int
) -> dict[str, list[float]]:
    """Run each case once per round, alternating the order; ``case(round)`` returns a figure."""
    names = list(cases)
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            out[name].append(await cases[name](r))
    return out


C = TypeVar("C")
R = TypeVar("R")


def alternating(cases: Sequence[C], rounds: int, run: Callable[[C], R]) -> dict[C, list[R]]:
    """:func:`ab_rounds` for blocking cases (a wrk run each): every case once per round, the
    order reversed every other round (A B … then … B A), so a slow stretch of the machine falls
    on all of them alike; ``run(case)``'s results per case, in round order."""
    out: dict[C, list[R]] = {case: [] for case in cases}
    for r in range(rounds):
        for case in cases if r % 2 == 0 else reversed(cases):
            out[case].append(run(case))
    return out


def percentile(samples: Sequence[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- scratch databases -------------------------------------------------------------------


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def scratch_database(kind: Kind, pg_server: str, workdir: Path) -> AsyncIterator[str]:
    """An empty database of ``kind`` (PostgreSQL: ``bench_*`` on the server), removed after."""
    if kind == "sqlite":
        path = workdir / f"bench_{secrets.token_hex(4)}.sqlite"
        try:
            yield f"sqlite+aiosqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240
        return
    name = f"bench_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(asyncpg_dsn(pg_server))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(pg_server).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(pg_server))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def session_data(user: str) -> dict[str, Any]:
    return {"user_id": user, "theme": "dark", "cart": [1, 2, 3], "n": 0}


async def bulk_load(
    kind: Kind,
    url: str,
    n: int,
    *,
    users: int = 1000,
    expired_fraction: float = 0.0,
    user_prefix: str = "user-",
    batch: int = 100_000,
) -> list[str]:
    """Insert ``n`` sessions of ``users`` users straight into the table; returns the live ids.

    PostgreSQL uses ``COPY``; SQLite ``executemany`` in one transaction per batch. Every
    ``1/expired_fraction``-th row is already expired.
    """
    now = datetime.now(UTC)
    live_until, dead_since = now + timedelta(days=14), now - timedelta(days=1)
    every = round(1 / expired_fraction) if expired_fraction > 0 else 0
    live: list[str] = []
    columns = ["id", "data", "expiry_date", "user_id", "tenant_id", "created_at", "updated_at"]
    for lo in range(0, n, batch):
        rows: list[tuple[Any, ...]] = []
        for i in range(lo, min(n, lo + batch)):
            sid = secrets.token_urlsafe(32)
            user = f"{user_prefix}{i % users}"
            expired = every > 0 and i % every == every - 1
            if not expired:
                live.append(sid)
            rows.append(
                (sid, json.dumps(session_data(user)), dead_since if expired else live_until, user)
            )
        if kind == "postgres":
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                await conn.copy_records_to_table(
                    "sessions",
                    records=[(*r, None, now, now) for r in rows],
                    columns=columns,
                )
            finally:
                await conn.close()
        else:
            path = make_url(url).database
            assert path
            stamp = now.strftime(SQLITE_TS)
            db = sqlite3.connect(path, isolation_level=None)
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    f"INSERT INTO sessions ({', '.join(columns)}) VALUES (?, ?, ?, ?, NULL, ?, ?)",
                    [(r[0], r[1], r[2].strftime(SQLITE_TS), r[3], stamp, stamp) for r in rows],
                )
                db.execute("COMMIT")
            finally:
                db.close()
    if kind == "postgres":
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.execute("ANALYZE sessions")
        finally:
            await conn.close()
    return live
