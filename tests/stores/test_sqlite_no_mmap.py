"""SQLite only: the event-loop thread's connection never memory-maps the database file.

With a map, every commit by another connection (a ``delete_expired`` batch, a write on the
writer thread, another worker process) makes SQLite unmap the whole map at the start of the
inline connection's next read, which for a big file is milliseconds of CPU on the event loop
(benchmarks/scale_bench.py's cleanup part measured it). Linux only: it reads /proc/self/maps.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ..conftest import sqlite_url

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/maps"
)


def _mapped(path: Path) -> bool:
    target = str(path.resolve())
    maps = Path("/proc/self/maps").read_text()
    return any(line.split(maxsplit=5)[-1] == target for line in maps.splitlines())


async def test_loads_read_the_database_file_without_mapping_it(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    backend = await SessionStoreBackend.connect(url)
    await backend.migrate()
    try:
        record = SessionRecord(new_session_id(), {"n": 1}, utcnow() + timedelta(hours=1))
        await backend.create(record)
        database = make_url(url).database
        assert database
        another_process = sqlite3.connect(database, isolation_level=None)
        try:  # the row moves from the WAL into the database file, where a map would read it
            another_process.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            another_process.close()
        loaded = await backend.load(record.id)
        assert loaded is not None and loaded.data == {"n": 1}
        assert not _mapped(Path(database))
    finally:
        await backend.close()
