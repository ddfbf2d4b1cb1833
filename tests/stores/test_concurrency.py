"""Several OS processes writing one database lose nothing (and SQLite never says "database
is locked"). Concurrent tasks and instances in one process are in the store contract
(``session_service.testing.concurrency``)."""

from __future__ import annotations

import asyncio

import pytest

from session_service import SessionStoreBackend

from ..support.processes import run_together

N = 200


# -- SQLite: separate OS processes on one file ---------------------------------------------

_WRITE_IN_CHILD = """
import asyncio, sys
from datetime import timedelta
from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

async def main() -> None:
    url, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    backend = SessionStoreBackend.from_url(url)
    await backend.ping()
    print("ready", flush=True)
    sys.stdin.readline()  # every process is ready: write at the same time
    expiry = utcnow() + timedelta(hours=1)
    records = [
        SessionRecord(id=f"{tag}-{i}-{new_session_id()}",
                      data={"user_id": "shared", "i": i, "tag": tag}, expiry_date=expiry)
        for i in range(n)
    ]
    await asyncio.gather(*(backend.save(r) for r in records))
    await backend.close()
    print("wrote", n, flush=True)

asyncio.run(main())
"""


@pytest.mark.stores("sqlite", "postgres", "redis")  # memory:// lives inside one process
async def test_two_processes_writing_one_database_lose_nothing(
    backend: SessionStoreBackend, db_url: str
) -> None:
    args = [[db_url, "p1", str(N)], [db_url, "p2", str(N)]]
    results = await asyncio.to_thread(run_together, _WRITE_IN_CHILD, args)
    for code, out, err in results:
        assert code == 0, err
        assert "database is locked" not in err
        assert f"wrote {N}" in out
    assert (await backend.stats()).total == 2 * N
    assert await backend.count_sessions_for_user("shared") == 2 * N
    tags = [r.data["tag"] for r in await backend.list_sessions_for_user("shared")]
    assert tags.count("p1") == N
    assert tags.count("p2") == N
