"""Many writers at once lose nothing: concurrent tasks on one backend, several backends on one
database, and (SQLite) several OS processes on one file without "database is locked"."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ..support.processes import run_together

N = 200


def _record(data: dict[str, Any], *, sid: str | None = None) -> SessionRecord:
    return SessionRecord(
        id=sid or new_session_id(), data=data, expiry_date=utcnow() + timedelta(hours=1)
    )


async def test_concurrent_saves_to_distinct_sessions_lose_nothing(
    backend: SessionStoreBackend,
) -> None:
    records = [_record({"i": i, "payload": "x" * (i % 50)}) for i in range(N)]
    await asyncio.gather(*(backend.save(r) for r in records))
    assert (await backend.stats()).total == N
    loaded = await asyncio.gather(*(backend.load(r.id) for r in records))
    assert [r.data if r else None for r in loaded] == [r.data for r in records]


async def test_concurrent_saves_for_one_user_are_all_counted(
    backend: SessionStoreBackend,
) -> None:
    records = [_record({"user_id": "alice", "i": i}) for i in range(N)]
    await asyncio.gather(*(backend.save(r) for r in records))
    assert await backend.count_sessions_for_user("alice") == N
    assert set(await backend.get_session_ids_for_user("alice")) == {r.id for r in records}
    assert await backend.clear_sessions_for_user("alice") == N
    assert (await backend.stats()).total == 0


async def test_concurrent_creates_with_one_id_keep_every_session(
    backend: SessionStoreBackend,
) -> None:
    shared = new_session_id()
    records = [_record({"i": i}, sid=shared) for i in range(20)]
    created = await asyncio.gather(*(backend.create(r) for r in records))
    ids = [r.id for r in created]
    assert len(set(ids)) == 20
    assert shared in ids
    assert (await backend.stats()).total == 20
    for record in created:
        loaded = await backend.load(record.id)
        assert loaded is not None
        assert loaded.data == record.data


async def test_concurrent_saves_of_one_session_leave_one_whole_version(
    backend: SessionStoreBackend,
) -> None:
    sid = new_session_id()
    versions = [{"user_id": f"user-{i}", "i": i, "blob": [i] * 20} for i in range(50)]
    await asyncio.gather(*(backend.save(_record(v, sid=sid)) for v in versions))
    loaded = await backend.load(sid)
    assert loaded is not None
    assert loaded.data in versions
    assert loaded.user_id == loaded.data["user_id"]  # column and data from the same write
    assert (await backend.stats()).total == 1
    assert await backend.count_sessions_for_user(loaded.data["user_id"]) == 1


async def test_two_backends_on_one_database_see_each_others_writes(db_url: str) -> None:
    first = await SessionStoreBackend.connect(db_url)
    second = await SessionStoreBackend.connect(db_url)
    try:
        await first.migrate()
        a = [_record({"user_id": "alice", "from": "first"}) for _ in range(N // 2)]
        b = [_record({"user_id": "alice", "from": "second"}) for _ in range(N // 2)]
        await asyncio.gather(*(first.save(r) for r in a), *(second.save(r) for r in b))
        assert await first.count_sessions_for_user("alice") == N
        assert await second.clear_sessions_for_user("alice") == N
        assert await first.load(a[0].id) is None
    finally:
        await first.close()
        await second.close()


async def test_clear_user_while_saving_leaves_only_sessions_saved_after(
    backend: SessionStoreBackend,
) -> None:
    before = [_record({"user_id": "alice", "i": i}) for i in range(50)]
    await asyncio.gather(*(backend.save(r) for r in before))
    during = [_record({"user_id": "alice", "j": i}) for i in range(50)]
    results = await asyncio.gather(
        backend.clear_sessions_for_user("alice"), *(backend.save(r) for r in during)
    )
    cleared = results[0]
    assert isinstance(cleared, int)
    assert 50 <= cleared <= 100
    remaining = set(await backend.get_session_ids_for_user("alice"))
    assert remaining <= {r.id for r in during}
    assert len(remaining) == 100 - cleared
    for record in before:
        assert await backend.load(record.id) is None


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
        SessionRecord(id=f"{tag}-{i}-{new_session_id()}", data={"user_id": "shared", "i": i},
                      expiry_date=expiry)
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
    ids = await backend.get_session_ids_for_user("shared")
    assert sum(sid.startswith("p1-") for sid in ids) == N
    assert sum(sid.startswith("p2-") for sid in ids) == N
