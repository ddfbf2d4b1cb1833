"""Export + import of N sessions, SQLite → PostgreSQL, as an operator runs them (issue 28).

``python -m benchmarks.transfer_bench --sessions 1000000 --pg-url postgresql://…`` seeds a
fresh SQLite file with N live sessions (the first ``--seed-through`` through the store's own
import, in batches; the rest copies of them under new keys, in SQL), then runs
``session-service export -o FILE`` and ``session-service import FILE`` (into a fresh
PostgreSQL database) and, unless ``--no-copy``, ``session-service copy --to`` (into another),
each as its own process, and prints the wall time, the CPU time and the peak RSS of each
process (``wait4``'s ``ru_utime + ru_stime`` and ``ru_maxrss``). ``--tree DIR`` runs another
checkout's CLI (``main``'s, say) on the same kind of file, for a before/after. Streaming shows
as a peak RSS that does not grow with N: run it at two sizes. The figures are of one run on
whatever else the machine is doing: say so next to them (benchmarks/TRANSFER.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from session_service import SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.stores._transfer import StoredSession, TransferStore

SCRIPT = shutil.which("session-service", path=os.path.dirname(sys.executable)) or "session-service"


async def seed(url: str, n: int, batch: int = 5000) -> None:
    backend = await SessionStoreBackend.connect(url)
    await backend.migrate()
    store = backend.store
    assert isinstance(store, TransferStore)
    now = utcnow()
    for start in range(0, n, batch):
        rows = [
            StoredSession(
                key=new_session_id(),
                data={"user_id": f"user{i % 50_000}", "cart": [i, "x" * 40]},
                expiry_date=now + timedelta(days=7),
                created_at=now,
                updated_at=now,
                user_id=f"user{i % 50_000}",
                ip="203.0.113.7",
                user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
                handle=secrets.token_urlsafe(12),
            )
            for i in range(start, min(start + batch, n))
        ]
        await store.import_sessions(rows)
    await backend.close()


_COLUMNS = "data, expiry_date, user_id, tenant_id, created_at, updated_at, ip, user_agent, " \
    "last_seen, handle"  # fmt: skip


def multiply(path: Path, n: int) -> None:
    """Grow the seeded table to ``n`` rows by copying its rows under new random 43-character
    keys, in SQL alone: seeding a million through the store's own import takes longer than
    the export and import being measured, and rows copied as stored are rows as stored."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        while (have := db.execute("SELECT count(*) FROM sessions").fetchone()[0]) < n:
            db.execute(
                f"INSERT INTO sessions (id, {_COLUMNS}) SELECT "
                f"substr(lower(hex(randomblob(22))), 1, 43), {_COLUMNS} FROM sessions LIMIT ?",
                (n - have,),
            )
    finally:
        db.close()


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def fresh_pg(server: str) -> str:
    name = f"sstransfer_{secrets.token_hex(4)}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_pg(url: str) -> None:
    name = make_url(url).database
    server = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def timed(
    *args: str, env: dict[str, str], tree: str | None = None
) -> tuple[float, float, float, str]:
    """Run the CLI (of the checkout ``tree``, when given); (seconds, CPU seconds, peak RSS in
    MB) of that one process, and the counts it printed. CPU seconds (user + system) vary less
    than the wall time on a machine shared with other jobs, though both count only this
    process, not the database's."""
    command = [sys.executable, "-m", "session_service"] if tree else [SCRIPT]
    start = time.perf_counter()
    proc = subprocess.Popen([*command, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tree)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {err}")
    assert proc.stdout is not None
    said = proc.stdout.read().decode().strip()  # a line or two: nothing to fill the pipe
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--pg-url", required=True)
    parser.add_argument(
        "--seed-through",
        type=int,
        default=100_000,
        metavar="N",
        help="seed this many through the store's import, the rest copied in SQL (default 100,000)",
    )
    parser.add_argument("--no-copy", action="store_true", help="export and import only")
    parser.add_argument(
        "--tree",
        metavar="DIR",
        help="run the CLI of this checkout (python -m session_service there), e.g. main's, "
        "to compare against it on the same seeded file",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite+aiosqlite:///{Path(tmp) / 'sessions.sqlite'}"
        t0 = time.perf_counter()
        asyncio.run(seed(sqlite, min(args.sessions, args.seed_through)))
        multiply(Path(tmp) / "sessions.sqlite", args.sessions)
        seeded = time.perf_counter() - t0
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
        env.update(SESSION_DB_URL=sqlite, SESSION_DATA_DIR=tmp)
        dump = str(Path(tmp) / "sessions.jsonl")
        targets = [fresh_pg(args.pg_url), fresh_pg(args.pg_url)]
        try:
            for target in targets:
                timed("--db-url", target, "migrate", env=env)
            tree = args.tree
            rows = [("export (SQLite → file)", *timed("export", "-o", dump, env=env, tree=tree))]
            size = os.path.getsize(dump) / 2**20
            rows.append(
                (
                    "import (file → PostgreSQL)",
                    *timed("--db-url", targets[0], "import", dump, env=env, tree=tree),
                )
            )
            if not args.no_copy:
                rows.append(("copy (SQLite → PostgreSQL)",
                             *timed("copy", "--to", targets[1], env=env, tree=tree)))  # fmt: skip
        finally:
            for target in targets:
                drop_pg(target)
    n = args.sessions
    print(f"## Export and import, SQLite → PostgreSQL: {n:,} sessions (file {size:,.0f} MB; "
          f"seeded in {seeded:.1f} s)\n")  # fmt: skip
    print("| step | seconds | sessions/s | CPU seconds | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, cpu, rss, _ in rows:
        print(f"| {name} | {seconds:.1f} | {n / seconds:,.0f} | {cpu:.1f} | {rss:,.0f} |")
    print("\nWhat each said (the exact counts):\n")
    for name, *_, said in rows:
        print(f"- {name}: {said}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
