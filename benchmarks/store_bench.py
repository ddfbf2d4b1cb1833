"""Store micro-benchmarks, each next to the floor its backend allows, in the same run.

Per backend, every operation the middleware and admins use (``load``, ``update`` and ``save``
of an existing session, ``create``, ``clear_sessions_for_user``) runs sequentially (µs per
call) and from 32 concurrent tasks (calls per second). The floors:

* PostgreSQL: the same statement on raw asyncpg, prepared, through a pool whose reset on
  release is a no-op (``reset=``: the library's pool skips that round trip too), and on one
  connection held throughout (no pool at all: the lower bound, reported beside it).
* SQLite: the same statement on a stdlib ``sqlite3`` connection, inline on the event loop (the
  library runs reads and uncontended writes inline too; no thread hop).

Each floor does the work the library's path does and no more, so a ratio above 1.00x is the
library's own overhead (:data:`FLOORS` says each in one line, and the report prints it).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id

from ._common import (
    SQLITE_TS,
    Kind,
    Op,
    Section,
    Table,
    Target,
    ab_rounds,
    asyncpg_dsn,
    bulk_load,
    concurrent_ops_per_s,
    fmt,
    fmt_ratio,
    median,
    paired_ratio,
    sequential_us,
    session_data,
)

TTL = timedelta(days=14)
SELECT_SQL = (
    "SELECT id, data, expiry_date, user_id, tenant_id FROM sessions "
    "WHERE id = {p1} AND expiry_date > {p2}"
)
UPSERT_SQL = (
    "INSERT INTO sessions (id, data, expiry_date, user_id, tenant_id, created_at, updated_at) "
    "VALUES ({p1}, {p2}, {p3}, {p4}, NULL, {p5}, {p5}) ON CONFLICT (id) DO UPDATE SET "
    "data = excluded.data, expiry_date = excluded.expiry_date, user_id = excluded.user_id, "
    "updated_at = excluded.updated_at"
)
UPDATE_SQL = (
    "UPDATE sessions SET data = {p2}, expiry_date = {p3}, user_id = {p4}, updated_at = {p5} "
    "WHERE id = {p1} AND expiry_date > {p5}"
)
_PG = {f"p{i}": f"${i}" for i in range(1, 6)}
_LITE = {f"p{i}": f"?{i}" for i in range(1, 6)}

#: (ours, floor used for the ratio column) per backend.
_FLOOR_OF = {
    "postgres": {
        "ours load": "asyncpg select (pool)",
        "ours update": "asyncpg update (pool)",
        "ours save": "asyncpg upsert (pool)",
    },
    "sqlite": {
        "ours load": "sqlite3 select (inline)",
        "ours update": "sqlite3 update (inline)",
        "ours save": "sqlite3 upsert (inline)",
    },
}

#: One line per floor, for the report: what it does, so a reader can check it is like-for-like.
FLOORS = {
    "postgres": [
        "asyncpg … (pool): `asyncpg.create_pool(min_size=10, max_size=21, reset=<no-op>)`, "
        "acquire + the same prepared statement + release, no reset round trip (the library's "
        "pool uses the same no-op `_no_reset`).",
        "asyncpg … (held conn): the same prepared statement on one connection held throughout "
        "(no acquire/release): the lower bound no pooled app reaches.",
    ],
    "sqlite": [
        "sqlite3 … (inline): the same statement on one stdlib `sqlite3` connection (WAL, "
        "`synchronous=NORMAL`), called inline on the event loop, no thread hop (the library "
        "runs reads and uncontended writes inline).",
    ],
}


async def _no_reset(conn: object) -> None:
    """asyncpg pool ``reset`` hook doing nothing: the floor pays no reset round trip."""


@dataclass(frozen=True)
class StoreConfig:
    ops: int = 2000  # sequential calls per case per round
    concurrent_ops: int = 4000  # calls per case per round, shared by ``tasks`` tasks
    tasks: int = 32
    rounds: int = 3
    preload: int = 10_000  # sessions in the table before measuring


def _now() -> datetime:
    return datetime.now(UTC)


class _Fixture:
    """The store under test and its floors, over one table already holding sessions."""

    def __init__(self, kind: Kind, url: str, backend: SessionStoreBackend, ids: list[str]):
        self.kind, self.url, self.backend, self.ids = kind, url, backend, ids
        self.data = json.dumps(session_data("user-1"))
        self.closers: list[Callable[[], Awaitable[None]]] = []

    def sid(self, i: int) -> str:
        return self.ids[i % len(self.ids)]

    def record(self, i: int) -> SessionRecord:
        return SessionRecord(self.sid(i), session_data(f"user-{i % 1000}"), _now() + TTL)

    def ours(self) -> dict[str, Op]:
        b = self.backend

        async def create(i: int) -> object:
            return await b.create(
                SessionRecord(new_session_id(), session_data("new"), _now() + TTL)
            )

        return {
            "ours load": lambda i: b.load(self.sid(i)),
            "ours update": lambda i: b.update(self.record(i)),
            "ours save": lambda i: b.save(self.record(i)),
            "ours create": create,
            "ours clear_sessions_for_user": lambda i: b.clear_sessions_for_user(f"clear-{i}"),
        }

    async def pg_floors(self) -> tuple[dict[str, Op], dict[str, Op]]:
        pool: Any = await asyncpg.create_pool(
            asyncpg_dsn(self.url), min_size=10, max_size=21, reset=_no_reset
        )
        held: Any = await pool.acquire()

        async def close() -> None:
            await pool.release(held)
            await pool.close()

        self.closers.append(close)
        sel, ups, upd = (s.format(**_PG) for s in (SELECT_SQL, UPSERT_SQL, UPDATE_SQL))
        held_sel, held_ups = await held.prepare(sel), await held.prepare(upsert := ups)
        held_upd = await held.prepare(upd)

        def write_args(i: int) -> tuple[Any, ...]:
            now = _now()
            return (self.sid(i), self.data, now + TTL, f"user-{i % 1000}", now)

        async def pool_select(i: int) -> object:
            async with pool.acquire() as conn:
                return await conn.fetchrow(sel, self.sid(i), _now())

        async def pool_upsert(i: int) -> object:
            async with pool.acquire() as conn:
                return await conn.execute(upsert, *write_args(i))

        async def pool_update(i: int) -> object:
            async with pool.acquire() as conn:
                return await conn.execute(upd, *write_args(i))

        shared: dict[str, Op] = {
            "asyncpg select (pool)": pool_select,
            "asyncpg update (pool)": pool_update,
            "asyncpg upsert (pool)": pool_upsert,
        }
        held_only: dict[str, Op] = {
            "asyncpg select (held conn)": lambda i: held_sel.fetchrow(self.sid(i), _now()),
            "asyncpg update (held conn)": lambda i: held_upd.fetchval(*write_args(i)),
            "asyncpg upsert (held conn)": lambda i: held_ups.fetchval(*write_args(i)),
        }
        return shared, held_only

    async def sqlite_floors(self) -> tuple[dict[str, Op], dict[str, Op]]:
        path = make_url(self.url).database
        assert path
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA synchronous = NORMAL")

        async def close() -> None:
            db.close()

        self.closers.append(close)
        sel, ups, upd = (s.format(**_LITE) for s in (SELECT_SQL, UPSERT_SQL, UPDATE_SQL))

        async def select(i: int) -> object:
            return db.execute(sel, (self.sid(i), _now().strftime(SQLITE_TS))).fetchone()

        def write(sql: str) -> Op:
            async def op(i: int) -> object:
                now = _now()
                fmt_now = now.strftime(SQLITE_TS)
                exp = (now + TTL).strftime(SQLITE_TS)
                return db.execute(sql, (self.sid(i), self.data, exp, "user-1", fmt_now)).rowcount

            return op

        shared: dict[str, Op] = {
            "sqlite3 select (inline)": select,
            "sqlite3 update (inline)": write(upd),
            "sqlite3 upsert (inline)": write(ups),
        }
        return shared, {}


async def measure_ops(
    seq_ops: dict[str, Op], conc_ops: dict[str, Op], cfg: StoreConfig
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """µs per call, sequential, of ``seq_ops``, then calls/s at ``cfg.tasks`` tasks of
    ``conc_ops``, each in alternating A/B rounds; each case of each round is handed its own
    range of call numbers (``i``), the sequential range first."""
    stride = cfg.ops + cfg.concurrent_ops

    def seq_case(op: Op) -> Callable[[int], Awaitable[float]]:
        return lambda r: sequential_us(op, cfg.ops, start=r * stride)

    def conc_case(op: Op) -> Callable[[int], Awaitable[float]]:
        return lambda r: concurrent_ops_per_s(
            op, cfg.concurrent_ops, cfg.tasks, start=r * stride + cfg.ops
        )

    seq = await ab_rounds({n: seq_case(op) for n, op in seq_ops.items()}, cfg.rounds)
    conc = await ab_rounds({n: conc_case(op) for n, op in conc_ops.items()}, cfg.rounds)
    return seq, conc


async def run_store_bench(kind: Kind, url: str, cfg: StoreConfig) -> Section:
    """The store micro-benchmarks on an empty database at ``url``."""
    backend = await SessionStoreBackend.connect(url)
    await backend.migrate()
    ids = await bulk_load(kind, url, cfg.preload)
    stride = cfg.ops + cfg.concurrent_ops
    # Users to clear: two sessions each, a fresh user for every clear call of every round.
    clear_users = stride * cfg.rounds
    await bulk_load(kind, url, 2 * clear_users, users=clear_users, user_prefix="clear-")
    fx = _Fixture(kind, url, backend, ids)
    try:
        if kind == "postgres":
            shared, seq_only = await fx.pg_floors()
        else:
            shared, seq_only = await fx.sqlite_floors()
        ours = fx.ours()
        seq_ops = {**ours, **shared, **seq_only}
        conc_ops = {**ours, **shared}
        for name, op in seq_ops.items():  # warm caches, prepared statements, the pool
            for i in range(50):
                if name != "ours clear_sessions_for_user" and name != "ours create":
                    await op(i)

        seq, conc = await measure_ops(seq_ops, conc_ops, cfg)
    finally:
        for closer in fx.closers:
            await closer()
        await backend.close()
    return _report(kind, cfg, seq, conc)


def _report(
    kind: Kind, cfg: StoreConfig, seq: dict[str, list[float]], conc: dict[str, list[float]]
) -> Section:
    label = "PostgreSQL" if kind == "postgres" else "SQLite"
    floors = _FLOOR_OF[kind]
    section = Section()
    table = Table(
        f"Store, {label}: {cfg.preload:,} sessions stored; µs per call, sequential; calls/s at "
        f"{cfg.tasks} tasks (median of {cfg.rounds} rounds)",
        ["operation", "µs/call (seq)", "vs floor (seq)", "calls/s (32 tasks)", "vs floor (32)"],
    )
    for name in seq:
        floor = floors.get(name)
        seq_ratio = paired_ratio(seq[name], seq[floor]) if floor else None
        c = conc.get(name)
        conc_ratio = paired_ratio(conc[floor], c) if floor and c else None  # time ratio
        table.rows.append(
            [
                name,
                fmt(median(seq[name])),
                fmt_ratio(seq_ratio),
                fmt(median(c), 0) if c else "-",
                fmt_ratio(conc_ratio),
            ]
        )
    table.note = (
        "'vs floor' is ours ÷ floor in time per call (1.00x = as fast as the floor), the median "
        "of the per-round ratios; the floor of each row: "
        + "; ".join(f"{k} → {v}" for k, v in floors.items())
    )
    section.tables.append(table)
    if kind == "postgres":

        def vs(ours: str, floor: str) -> float | None:
            return paired_ratio(seq[ours], seq[floor])

        section.targets += [
            Target(
                "PG load / asyncpg select (pool, no reset)",
                vs("ours load", "asyncpg select (pool)"),
                1.2,
                detail="sequential; vs held conn: "
                f"{fmt_ratio(vs('ours load', 'asyncpg select (held conn)'))}",
            ),
            Target(
                "PG update / asyncpg update (pool, no reset)",
                vs("ours update", "asyncpg update (pool)"),
                1.2,
                detail="sequential; vs held conn: "
                f"{fmt_ratio(vs('ours update', 'asyncpg update (held conn)'))}; save vs upsert "
                f"(pool): {fmt_ratio(vs('ours save', 'asyncpg upsert (pool)'))}, (held conn): "
                f"{fmt_ratio(vs('ours save', 'asyncpg upsert (held conn)'))}",
            ),
        ]
    else:
        section.targets.append(
            Target(
                "SQLite load / sqlite3 select (inline)",
                paired_ratio(seq["ours load"], seq["sqlite3 select (inline)"]),
                1.3,
                detail="sequential",
            )
        )
    section.floors += FLOORS[kind]
    return section
