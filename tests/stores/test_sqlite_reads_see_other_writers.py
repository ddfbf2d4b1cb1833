"""SQLite only: a read sees, at once, what another process or connection committed to the file.

The store reads inline on one long-lived connection (``SqliteHotPath``); every read is a
transaction of its own, so each starts from the file as it is then. A connection that kept a
read transaction (a snapshot) open between requests would keep serving a session another
process revoked, or data it replaced, until something ended that transaction. Each test
reads once first (so a connection that kept its snapshot would have one), changes the file
elsewhere, then reads again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.storable import at_rest_id

from ..conftest import sqlite_url

#: Run by another Python process on the file: ``argv`` = path, stored key, SQL, parameter.
_OTHER_PROCESS = """
import sqlite3, sys
path, key, sql, value = sys.argv[1:5]
conn = sqlite3.connect(path, isolation_level=None, timeout=10)
args = (key,) if value == "-" else (value, key)
assert conn.execute(sql, args).rowcount == 1
conn.close()
"""


def _in_another_process(url: str, session_id: str, sql: str, value: str = "-") -> None:
    path = make_url(url).database
    assert path
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, path, at_rest_id(session_id), sql, value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def store(sqlite_backend: SessionStoreBackend) -> SessionStoreBackend:
    return sqlite_backend


async def _new_session(store: SessionStoreBackend, data: dict[str, object]) -> str:
    record = SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1))
    await store.create(record)
    loaded = await store.load(record.id)  # the reader's connection is open and has read
    assert loaded is not None and loaded.data == data
    return record.id


async def test_a_revocation_by_another_process_ends_the_session_at_the_next_read(
    store: SessionStoreBackend, tmp_path: Path
) -> None:
    sid = await _new_session(store, {"user_id": "alice"})
    _in_another_process(sqlite_url(tmp_path), sid, "DELETE FROM sessions WHERE id = ?")
    assert await store.load(sid) is None


async def test_a_write_by_another_process_is_what_the_next_read_returns(
    store: SessionStoreBackend, tmp_path: Path
) -> None:
    sid = await _new_session(store, {"n": 1})
    sql = "UPDATE sessions SET data = ? WHERE id = ?"
    _in_another_process(sqlite_url(tmp_path), sid, sql, json.dumps({"n": 2}))
    loaded = await store.load(sid)
    assert loaded is not None and loaded.data == {"n": 2}


async def test_a_revocation_by_another_store_on_the_file_ends_the_session_at_the_next_read(
    store: SessionStoreBackend, tmp_path: Path
) -> None:
    """Another store in the same process (another app instance, a CLI run in-process): its
    own connections, the same file."""
    sid = await _new_session(store, {"user_id": "bob"})
    other = await SessionStoreBackend.connect(sqlite_url(tmp_path))
    try:
        assert await other.clear_sessions_for_user("bob") == 1
    finally:
        await other.close()
    assert await store.load(sid) is None


async def test_every_read_after_a_revocation_elsewhere_is_empty(
    store: SessionStoreBackend, tmp_path: Path
) -> None:
    """Many reads of live sessions, then one is revoked elsewhere: not one later read of it
    returns it, whatever the reads before did."""
    sids = [await _new_session(store, {"i": i}) for i in range(5)]
    for _ in range(40):
        for sid in sids:
            assert await store.load(sid) is not None
    _in_another_process(sqlite_url(tmp_path), sids[2], "DELETE FROM sessions WHERE id = ?")
    for _ in range(40):
        for i, sid in enumerate(sids):
            loaded = await store.load(sid)
            assert (loaded is None) == (i == 2)
