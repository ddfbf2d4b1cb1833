"""Issue 25: the ``0005`` upgrade (every stored id rewritten to its hash) on a table of a
million rows (PostgreSQL), while logins go on: how long does the longest login wait?

A login here is what the new version does for one: ``create`` (a new row, under the hash of a
fresh id) then ``load`` of it. They run back to back in this process, before the upgrade
(the baseline) and while ``alembic upgrade head`` runs in another process; the report gives
the median, 99th percentile and longest login of each phase, and the upgrade's duration. Not
part of the test suite (the machine is shared: figures are for comparing the two phases of
one run). Usage::

    python -m benchmarks.rehash_ids_bench postgresql://postgres@127.0.0.1:5432/postgres [ROWS]
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import asyncpg
from alembic import command
from sqlalchemy.engine import Connection, make_url

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.stores.sql import SqlSessionStore
from session_service.stores.sql import migrate as _migrate

ROOT = Path(__file__).resolve().parent.parent
_FILL = (
    "INSERT INTO sessions (id, data, expiry_date, user_id, created_at, updated_at) "
    "SELECT 'old-' || g || '-' || md5(g::text), "
    "('{\"user_id\": \"u' || (g % 1000) || '\"}')::jsonb, now() + interval '1 day', "
    "'u' || (g % 1000), now(), now() FROM generate_series($1::int, $2::int) AS g"
)


def _to_0004(conn: Connection) -> None:
    command.upgrade(_migrate._alembic_config(conn), "0004")


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _logins(backend: SessionStoreBackend, until: asyncio.Event | None, n: int) -> list[float]:
    waits: list[float] = []
    while (until is None and len(waits) < n) or (until is not None and not until.is_set()):
        record = SessionRecord(
            new_session_id(), {"user_id": "bench"}, utcnow() + timedelta(hours=1)
        )
        start = time.perf_counter()
        await backend.create(record)
        assert await backend.load(record.id) is not None
        waits.append(time.perf_counter() - start)
    return waits


def _summary(name: str, waits: list[float]) -> str:
    q = statistics.quantiles(waits, n=100)
    return (f"{name}: {len(waits)} logins, median {statistics.median(waits) * 1000:.1f} ms, "
            f"p99 {q[98] * 1000:.1f} ms, longest {max(waits) * 1000:.1f} ms")  # fmt: skip


async def main(server: str, rows: int) -> None:
    name = f"bench_rehash_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(_plain(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    backend = SessionStoreBackend.from_url(url)
    try:
        store = backend.store
        assert isinstance(store, SqlSessionStore)
        await store.run_migration(_to_0004)
        fill = await asyncpg.connect(_plain(url))
        for start in range(1, rows + 1, 100_000):
            await fill.execute(_FILL, start, min(start + 99_999, rows))
        await fill.execute("ANALYZE sessions")
        await fill.close()
        print(f"{rows} rows of the 0004 schema (ids as the previous version stored them)")
        before = await _logins(backend, None, 2000)
        done = asyncio.Event()
        upgrade = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"),
                   "-x", f"db_url={url}", "upgrade", "head"]  # fmt: skip
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*upgrade, stdout=subprocess.PIPE)
        during_task = asyncio.ensure_future(_logins(backend, done, 0))
        out, _ = await proc.communicate()
        took = time.perf_counter() - began
        done.set()
        during = await during_task
        assert proc.returncode == 0, out
        print(out.decode().strip())
        print(f"upgrade took {took:.1f} s")
        print(_summary("before the upgrade", before))
        print(_summary("during the upgrade", during))
        check = await asyncpg.connect(_plain(url))
        legacy = await check.fetchval("SELECT count(*) FROM sessions WHERE length(id) <> 64")
        await check.close()
        print(f"rows left unhashed: {legacy}")
    finally:
        await backend.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000))
