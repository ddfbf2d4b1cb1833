"""A stalled database: a lock held elsewhere must cost a request at most
``SESSION_DB_TIMEOUT_SECONDS``, queueing included, then a 503; and the CLI says "busy".

The lock is real: ``LOCK TABLE`` in another PostgreSQL connection, ``BEGIN EXCLUSIVE`` in
another SQLite connection. Each request's wait is measured and the worst compared with the
budget (with a generous factor for a loaded machine); nothing is slept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from session_service import DefaultSessionService

from ..support.webapp import build_app, settings_for

TIMEOUT = 2.0
CONCURRENCY = 40
#: A request may wait the budget once, plus scheduling on a busy 2-core machine.
WORST_ALLOWED = 2.5 * TIMEOUT
USERS = 10


@contextlib.asynccontextmanager
async def _locked(store_kind: str, db_url: str) -> AsyncIterator[None]:
    """The sessions table locked against writes (PostgreSQL: against reads too)."""
    if store_kind == "postgres":
        dsn = make_url(db_url).set(drivername="postgresql").render_as_string(False)
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
                yield
        finally:
            await conn.close()
        return
    database = make_url(db_url).database
    assert database
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


async def _timed(
    client: httpx.AsyncClient, method: str, path: str, cookie: str | None
) -> tuple[int, float]:
    headers = {"cookie": cookie} if cookie else {}
    started = time.monotonic()
    response = await client.request(method, path, headers=headers)
    return response.status_code, time.monotonic() - started


@pytest.mark.stores("sqlite", "postgres")  # a table lock: SQL only
async def test_a_locked_table_gives_every_request_503_within_the_timeout(
    store_kind: str, db_url: str, tmp_path: Path
) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_DB_TIMEOUT_SECONDS=str(TIMEOUT))
    service = DefaultSessionService(db_url, settings)
    await service.migrate()
    transport = httpx.ASGITransport(app=build_app(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            cookies = []
            for i in range(USERS):
                response = await client.post(f"/login?user=u{i}")
                cookies.append(response.headers["set-cookie"].split(";", 1)[0])
                client.cookies.clear()
            async with _locked(store_kind, db_url):
                calls = []
                for i in range(CONCURRENCY):
                    if i % 2:  # a write to a stored session (PostgreSQL: its read waits too)
                        calls.append(_timed(client, "POST", "/set?x=1", cookies[i % USERS]))
                    else:  # a new session
                        calls.append(_timed(client, "POST", "/set?fresh=1", None))
                results = await asyncio.gather(*calls)
            statuses = [status for status, _ in results]
            worst = max(waited for _, waited in results)
            print(f"{store_kind}: {CONCURRENCY} requests, timeout {TIMEOUT} s, worst {worst:.2f} s")
            assert statuses == [503] * CONCURRENCY
            assert worst < WORST_ALLOWED, f"a request waited {worst:.2f} s"

            # Nothing lost, nothing half-written: every stored session reads back as it was.
            for i, cookie in enumerate(cookies):
                response = await client.get("/read", headers={"cookie": cookie})
                assert response.json()["data"] == {"user_id": f"u{i}"}
    finally:
        await service.close()


@pytest.mark.stores("sqlite", "postgres")  # a table lock: SQL only
def test_the_cli_says_busy_for_a_lock_wait(store_kind: str, db_url: str, tmp_path: Path) -> None:
    async def migrate() -> None:
        service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
        await service.migrate()
        await service.close()

    asyncio.run(migrate())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    env.update(
        SESSION_DB_URL=db_url, SESSION_DATA_DIR=str(tmp_path), SESSION_DB_TIMEOUT_SECONDS="1"
    )
    argv = [sys.executable, "-m", "session_service", "clear-user", "alice"]

    async def scenario() -> subprocess.CompletedProcess[str]:
        async with _locked(store_kind, db_url):
            return await asyncio.to_thread(
                subprocess.run, argv, env=env, capture_output=True, text=True, timeout=60
            )

    done = asyncio.run(scenario())
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "the session database" in lines[0], done.stderr
    assert "busy (locked)" in lines[0] and "cannot reach" not in lines[0]


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_queued_sqlite_writes_share_one_deadline(db_url: str, tmp_path: Path) -> None:
    """Writes queued on the writer thread do not wait one busy timeout each."""

    async def scenario() -> list[tuple[int, float]]:
        settings = settings_for(db_url, str(tmp_path), SESSION_DB_TIMEOUT_SECONDS="1")
        service = DefaultSessionService(db_url, settings)
        await service.migrate()
        transport = httpx.ASGITransport(app=build_app(service))
        try:
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://t") as client,
                _locked("sqlite", db_url),
            ):
                return await asyncio.gather(
                    *(_timed(client, "POST", "/set?q=1", None) for _ in range(8))
                )
        finally:
            await service.close()

    results = asyncio.run(scenario())
    assert [status for status, _ in results] == [503] * 8
    # One busy timeout per queued write would make the last one wait about 8 s.
    assert max(waited for _, waited in results) < 2.5 * 1.0
