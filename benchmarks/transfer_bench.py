"""Export + import of N sessions, SQLite → PostgreSQL, as an operator runs them (issue 28).

``python -m benchmarks.transfer_bench --sessions 1000000 --pg-url postgresql://…`` seeds a
fresh SQLite file with N live sessions (through the store's own import, in batches), then
runs ``session-service export -o FILE`` and ``session-service import FILE`` (into a fresh
PostgreSQL database) and ``session-service copy --to`` (into another), each as its own
process, and prints the wall time and the peak RSS of each process (``wait4``'s
``ru_maxrss``). Streaming shows as a peak RSS that does not grow with N: run it at two sizes.
The figures are of one run on whatever else the machine is doing: say so next to them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
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


def timed(*args: str, env: dict[str, str]) -> tuple[float, float]:
    """Run the CLI; (seconds, peak RSS in MB) of that one process."""
    start = time.perf_counter()
    proc = subprocess.Popen([SCRIPT, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {err}")
    return elapsed, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--pg-url", required=True)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite+aiosqlite:///{Path(tmp) / 'sessions.sqlite'}"
        t0 = time.perf_counter()
        asyncio.run(seed(sqlite, args.sessions))
        seeded = time.perf_counter() - t0
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
        env.update(SESSION_DB_URL=sqlite, SESSION_DATA_DIR=tmp)
        dump = str(Path(tmp) / "sessions.jsonl")
        targets = [fresh_pg(args.pg_url), fresh_pg(args.pg_url)]
        try:
            for target in targets:
                timed("--db-url", target, "migrate", env=env)
            rows = [("export (SQLite → file)", *timed("export", "-o", dump, env=env))]
            size = os.path.getsize(dump) / 2**20
            rows.append(("import (file → PostgreSQL)",
                         *timed("--db-url", targets[0], "import", dump, env=env)))  # fmt: skip
            rows.append(("copy (SQLite → PostgreSQL)",
                         *timed("copy", "--to", targets[1], env=env)))  # fmt: skip
        finally:
            for target in targets:
                drop_pg(target)
    n = args.sessions
    print(f"## Export and import, SQLite → PostgreSQL: {n:,} sessions (file {size:,.0f} MB; "
          f"seeded in {seeded:.1f} s)\n")  # fmt: skip
    print("| step | seconds | sessions/s | peak RSS (MB) |\n|---|---:|---:|---:|")
    for name, seconds, rss in rows:
        print(f"| {name} | {seconds:.1f} | {n / seconds:,.0f} | {rss:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
