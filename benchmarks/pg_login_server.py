"""``python -m benchmarks.pg_login_server``: PostgreSQL's own CPU per login, capped vs unlimited.

The work of a login that in-process instruction counts (:mod:`.login_instructions`) never see:
the server processes'. ``-k`` connections (the app's pool) log users of a pool of ``--users``
in, each login the statement a store sends (``ROTATE_SQL``, or revision 0008's
``session_service_login`` with ``SESSION_MAX_PER_USER=5``; the anonymous sessions are made
beforehand in one statement, unmeasured). The cases alternate round after round, each on
connections of its own, and a row is the server CPU per login (user + system time of those
connections' server processes, from ``/proc/PID/stat``: the server must run on this machine)
and logins per second.

``--revisions`` (default ``head``) runs the cases on one fresh ``bench_*`` database per
schema revision (migrated to head, then downgraded), all alternating in one run: an A/B of a
migration (``0009_login_signed_out,head``). ``--no-triggers`` adds each case with revision
0006's notify triggers switched off for its connections (``session_replication_role =
replica``, superuser only): what the notifications cost. The databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command

from session_service import SessionStoreBackend
from session_service.stores.sql import SqlSessionStore, migrate
from session_service.stores.sql.postgres.engine import OWNER_LOCK_CLASS, owner_lock_id
from session_service.stores.sql.statements import NO_START_LIMIT, ROTATE_SQL

from ._common import asyncpg_dsn, median, scratch_database
from ._proc_cpu import cpu_seconds
from .per_core import _migrate

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LIMIT = 5
_LOGIN = "SELECT session_service_login(" + ", ".join(f"${n}" for n in range(1, 16)) + ")"
_ANONYMOUS = (
    "INSERT INTO sessions (id, data, expiry_date, created_at, updated_at) "
    "SELECT x, '{}'::jsonb, $2, $3, $3 FROM unnest($1::text[]) AS x"
)


async def _anonymous(conn: asyncpg.Connection, n: int) -> list[str]:
    now = datetime.now(UTC)
    ids = [secrets.token_urlsafe(32) for _ in range(n)]
    await conn.execute(_ANONYMOUS, ids, now + timedelta(hours=1), now)
    return ids


async def _logins(conn: asyncpg.Connection, capped: bool, ids: list[str], users: list[str]) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=1)
    for old, user in zip(ids, users, strict=True):
        move = (
            old,
            secrets.token_urlsafe(32),
            json.dumps({"user_id": user}),
            expiry,
            user,
            None,
            datetime.now(UTC),
            secrets.token_hex(8),
            None,
            None,
            None,
            NO_START_LIMIT,
        )
        if capped:
            await conn.fetchrow(_LOGIN, *move, LIMIT, OWNER_LOCK_CLASS, owner_lock_id(user))
        else:
            await conn.execute(ROTATE_SQL, *move)


async def _round(
    setup: asyncpg.Connection, conns: list[Any], pids: list[int], case: str, n: int, users: int
) -> tuple[float, float]:
    """One case's ``n`` logins over ``conns``: (server CPU µs per login, logins per second)."""
    ids, k = await _anonymous(setup, n), len(conns)
    names = [f"{case}-{i % users}" for i in range(n)]  # the same users every round
    before, start = sum(map(cpu_seconds, pids)), time.perf_counter()
    await asyncio.gather(
        *(
            _logins(c, case.startswith("capped"), ids[i::k], names[i::k])
            for i, c in enumerate(conns)
        )
    )
    took, cpu = time.perf_counter() - start, sum(map(cpu_seconds, pids)) - before
    return cpu / n * 1e6, n / took


async def measure(
    urls: dict[str, str], kinds: list[str], rounds: int, n: int, k: int, users: int
) -> None:
    """Print each case's row: ``revision:kind`` for each of ``urls`` (revision → database)."""
    cases = [f"{rev}:{kind}" for rev in urls for kind in kinds]
    setups = {rev: await asyncpg.connect(asyncpg_dsn(url)) for rev, url in urls.items()}
    pools: dict[str, tuple[list[Any], list[int]]] = {}
    try:
        for case in cases:
            dsn = asyncpg_dsn(urls[case.split(":")[0]])
            conns = [await asyncpg.connect(dsn) for _ in range(k)]
            if case.endswith("-no-triggers"):
                for c in conns:
                    await c.execute("SET session_replication_role = replica")
            pools[case] = (conns, [c.get_server_pid() for c in conns])
        rows: dict[str, list[tuple[float, float]]] = {case: [] for case in cases}
        for r in range(-1, rounds):  # round -1: warm-up (plans, caches, the pool of users)
            for case in cases if r % 2 == 0 else cases[::-1]:
                on = setups[case.split(":")[0]]
                done = await _round(on, *pools[case], case, n if r >= 0 else 300, users)
                if r >= 0:
                    rows[case].append(done)
        base = rows[cases[0]]  # the ratios: logins per second against the first case
        for case, got in rows.items():
            cpu, rps = [a for a, _ in got], [b for _, b in got]
            ratio = median([b / a for (_, a), (_, b) in zip(base, got, strict=True)])
            print(f"{case:24} server CPU µs/login {median(cpu):6.0f} {[round(x) for x in cpu]}  "
                  f"logins/s {median(rps):6.0f} ({ratio:.2f}x {cases[0]})")  # fmt: skip
    finally:
        for conns, _ in pools.values():
            for c in conns:
                await c.close()
        for setup in setups.values():
            await setup.close()


async def _at_revision(url: str, revision: str) -> None:
    await _migrate(url)
    if revision == "head":
        return
    backend = await SessionStoreBackend.connect(url)
    try:
        store = backend.store
        assert isinstance(store, SqlSessionStore)
        await store.run_migration(
            lambda conn: command.downgrade(migrate._alembic_config(conn), revision)
        )
    finally:
        await backend.close()


async def _main(args: argparse.Namespace) -> None:
    kinds = ["unlimited", "capped"]
    if args.no_triggers:
        kinds += [f"{kind}-no-triggers" for kind in kinds]
    urls: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for revision in args.revisions.split(","):
            url = await stack.enter_async_context(scratch_database("postgres", args.pg_url, work))
            await _at_revision(url, revision)
            urls[revision] = url
        await measure(urls, kinds, args.rounds, args.logins, args.connections, args.users)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pg-url", default=DEFAULT_PG)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--logins", type=int, default=3000, help="per case per round")
    p.add_argument("-k", "--connections", type=int, default=10)
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--revisions", default="head", help="comma-separated schema revisions")
    p.add_argument("--no-triggers", action="store_true")
    asyncio.run(_main(p.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
