"""SQLite only: what the embedded store does when another process holds the write lock.

(The behaviour suite runs on both backends; this file is about SQLite's file lock, which
PostgreSQL does not have.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ..conftest import sqlite_url


async def test_locked_write_waits_off_the_event_loop_then_succeeds(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    backend = await SessionStoreBackend.connect(url)
    await backend.migrate()
    try:
        record = SessionRecord(new_session_id(), {"n": 1}, utcnow() + timedelta(hours=1))
        other = SessionRecord(new_session_id(), {"n": 2}, utcnow() + timedelta(hours=1))
        await backend.create(record)
        await backend.create(other)

        path = make_url(url).database
        assert path
        another_process = sqlite3.connect(path, isolation_level=None)
        another_process.execute("BEGIN IMMEDIATE")  # holds the write lock
        try:
            record.data["n"] = 10
            pending = asyncio.create_task(backend.update(record))
            for _ in range(5):
                await asyncio.sleep(0)  # let the task run until it waits for the lock
            assert not pending.done()
            # The event loop is free while the write waits: reads still work (WAL).
            loaded = await backend.load(other.id)
            assert loaded is not None and loaded.data == {"n": 2}
        finally:
            another_process.execute("COMMIT")
            another_process.close()
        assert await pending is True
        reloaded = await backend.load(record.id)
        assert reloaded is not None and reloaded.data == {"n": 10}
    finally:
        await backend.close()


async def test_store_opens_a_new_file_while_another_process_writes_to_it(tmp_path: Path) -> None:
    """Switching a brand-new file to WAL fails at once while another process writes to it; the
    store must still open (that other process is making the file WAL anyway)."""
    url = sqlite_url(tmp_path)
    path = make_url(url).database
    assert path
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    another_process = sqlite3.connect(path, isolation_level=None)
    another_process.execute("BEGIN IMMEDIATE")  # e.g. migrating it
    try:
        backend = await SessionStoreBackend.connect(url)  # pings the database
    finally:
        another_process.execute("COMMIT")
        another_process.close()
    try:
        await backend.migrate()
        record = SessionRecord(new_session_id(), {"user_id": "u"}, utcnow() + timedelta(hours=1))
        await backend.create(record)
        assert await backend.count_sessions_for_user("u") == 1
    finally:
        await backend.close()


async def test_wal_file_stays_bounded_under_a_steady_stream_of_writes(tmp_path: Path) -> None:
    """Checkpoints must keep up with inline writes, or the -wal file grows without bound
    (a steady write load once left a 1.5 GB WAL behind)."""
    url = sqlite_url(tmp_path)
    backend = await SessionStoreBackend.connect(url)
    await backend.migrate()
    path = make_url(url).database
    assert path
    try:
        records = [
            SessionRecord(new_session_id(), {"user_id": f"u{i}", "n": 0}, utcnow())
            for i in range(50)
        ]
        for record in records:
            record.expiry_date = utcnow() + timedelta(hours=1)
            await backend.create(record)
        writes = 6000  # about 70 MB of WAL if it were never started over
        for i in range(writes):
            record = records[i % len(records)]
            record.data["n"] = i
            record.expiry_date = utcnow() + timedelta(hours=1)
            assert await backend.update(record)
        wal_bytes = Path(f"{path}-wal").stat().st_size  # noqa: ASYNC240 - a test, one stat
        assert wal_bytes < 40 * 1024 * 1024, f"WAL grew to {wal_bytes / 1e6:.0f} MB"
        assert (await backend.load(records[-1].id)) is not None
    finally:
        await backend.close()


async def test_a_task_looping_over_loads_does_not_starve_the_event_loop(tmp_path: Path) -> None:
    """SQLite reads run inline (they never wait on a lock), so the hot path must still let
    other tasks run: a task that only loads must not hold the loop until it is done."""
    backend = await SessionStoreBackend.connect(sqlite_url(tmp_path))
    await backend.migrate()
    record = SessionRecord(new_session_id(), {"n": 1}, utcnow() + timedelta(hours=1))
    await backend.create(record)
    other_ran = asyncio.Event()
    loads_before_other_ran: list[int] = []

    async def reader() -> None:
        for i in range(1000):
            await backend.load(record.id)
            if other_ran.is_set() and not loads_before_other_ran:
                loads_before_other_ran.append(i)

    async def other_task() -> None:
        other_ran.set()

    try:
        reading = asyncio.create_task(reader())  # scheduled first: it runs first
        await asyncio.gather(reading, other_task())
        assert loads_before_other_ran, "the other task only ran after 1,000 loads"
        assert loads_before_other_ran[0] < 100
    finally:
        await backend.close()


async def test_wal_file_stays_bounded_under_a_steady_stream_of_rate_limit_hits(
    tmp_path: Path,
) -> None:
    """A hit is a write that returns a row: it must count towards the checkpoints too."""
    from session_service.limits import RateLimiter, storage_for

    url = sqlite_url(tmp_path)
    backend = await SessionStoreBackend.connect(url)
    await backend.migrate()
    path = make_url(url).database
    assert path
    try:
        limits = RateLimiter(storage_for(backend.store))
        for i in range(4000):  # logs of up to 500 entries: ~12 KB of WAL a hit
            assert (await limits.hit(f"k{i % 20}", limit=500, window=3600)).allowed
        wal_bytes = Path(f"{path}-wal").stat().st_size  # noqa: ASYNC240 - a test, one stat
        assert wal_bytes < 25 * 1024 * 1024, f"WAL grew to {wal_bytes / 1e6:.0f} MB"
    finally:
        await backend.close()
