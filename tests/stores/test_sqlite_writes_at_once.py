"""SQLite only: many writes issued at once on one event loop (issue 27).

What a caller may rely on whatever else is writing: its write is durable and visible to
another connection when its ``await`` returns, it gets its own result (rowcount, rows) or its
own exception, and a failing or locked neighbour neither fails, loses nor repeats its write.
These guard any batching of the inline writes; a group commit (one ``BEGIN IMMEDIATE`` …
``COMMIT`` per event-loop iteration) was built against them, measured and not kept
(benchmarks/ANALYSIS.md, "SQLite group commit").
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow


def _hot(backend: SessionStoreBackend) -> Any:
    return backend.store._hot  # type: ignore[attr-defined]


def _other(tmp_path: Path) -> sqlite3.Connection:
    """Another connection to the store's file, as another process would open it."""
    return sqlite3.connect(tmp_path / "sessions.sqlite", isolation_level=None)


def _n_of(conn: sqlite3.Connection, record: SessionRecord) -> Any:
    """``record``'s ``n`` as the other connection reads it (ids are not stored as given)."""
    sql = "SELECT json_extract(data, '$.n') FROM sessions WHERE json_extract(data, '$.k') = ?"
    return conn.execute(sql, (record.data["k"],)).fetchone()[0]


def _record(data: dict[str, Any]) -> SessionRecord:
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1), None, "t")


async def _table(backend: SessionStoreBackend) -> Any:
    hot = _hot(backend)
    await hot.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
    await hot.execute("CREATE TABLE counter (n INTEGER NOT NULL)")
    await hot.execute("INSERT INTO counter VALUES (0)")
    return hot


async def test_many_concurrent_saves_on_one_loop_all_persist(
    sqlite_backend: SessionStoreBackend, tmp_path: Path
) -> None:
    records = [_record({"k": i, "n": i}) for i in range(60)]
    for record in records:
        await sqlite_backend.create(record)
    for record in records:
        record.data["n"] = record.data["n"] + 1000
    assert await asyncio.gather(*(sqlite_backend.update(r) for r in records)) == [True] * 60
    other = _other(tmp_path)
    try:
        for record in records:
            assert _n_of(other, record) == record.data["n"]
    finally:
        other.close()


async def test_each_caller_gets_its_own_count_and_rows(sqlite_backend: SessionStoreBackend) -> None:
    hot = await _table(sqlite_backend)
    await asyncio.gather(*(hot.execute("INSERT INTO t VALUES ($1, $2)", k, 0) for k in range(10)))
    counts = await asyncio.gather(
        *(hot.execute("UPDATE t SET v = v + 1 WHERE k = $1", k) for k in range(-5, 15))
    )
    assert counts == [0] * 5 + [1] * 10 + [0] * 5
    rows = await asyncio.gather(
        *(
            hot.write_fetchrow("UPDATE t SET v = v + $2 WHERE k = $1 RETURNING v", k, k)
            for k in range(10)
        )
    )
    assert rows == [(k + 1,) for k in range(10)]


async def test_a_failing_statement_fails_only_its_caller_and_nothing_is_lost_or_repeated(
    sqlite_backend: SessionStoreBackend, tmp_path: Path
) -> None:
    hot = await _table(sqlite_backend)
    await hot.execute("INSERT INTO t VALUES (5, 0)")
    bump = "UPDATE counter SET n = n + 1"
    results = await asyncio.gather(
        hot.execute(bump),
        hot.execute("INSERT INTO t VALUES ($1, $2)", 1, 1),
        hot.execute(bump),
        hot.execute("INSERT INTO t VALUES ($1, $2)", 5, 5),  # taken: this caller's error
        hot.execute(bump),
        hot.execute("INSERT INTO t VALUES ($1, $2)", 2, 2),
        hot.execute("INSERT INTO t VALUES ($1, $2)", 3, None),  # NOT NULL: its error too
        hot.execute(bump),
        return_exceptions=True,
    )
    assert results[:3] == [1, 1, 1] and results[4:6] == [1, 1] and results[7] == 1
    assert isinstance(results[3], sqlite3.IntegrityError)
    assert isinstance(results[6], sqlite3.IntegrityError)
    other = _other(tmp_path)
    try:
        assert other.execute("SELECT n FROM counter").fetchall() == [(4,)]  # once each
        assert other.execute("SELECT k, v FROM t ORDER BY k").fetchall() == [
            (1, 1),
            (2, 2),
            (5, 0),
        ]
    finally:
        other.close()


async def test_a_taken_id_beside_other_creates_draws_a_new_one_alone(
    sqlite_backend: SessionStoreBackend,
) -> None:
    taken = _record({"n": 0})
    await sqlite_backend.create(taken)
    again = SessionRecord(taken.id, {"n": 1}, taken.expiry_date, None, "t")
    fresh = [_record({"n": i}) for i in range(2, 7)]
    ids = [r.id for r in fresh]
    await asyncio.gather(
        *(sqlite_backend.create(r) for r in fresh[:2]),
        sqlite_backend.create(again),
        *(sqlite_backend.create(r) for r in fresh[2:]),
    )
    assert [r.id for r in fresh] == ids and again.id != taken.id
    for record in [*fresh, again, taken]:
        loaded = await sqlite_backend.load(record.id)
        assert loaded is not None and loaded.data == record.data


async def test_a_write_is_visible_to_another_connection_when_its_await_returns(
    sqlite_backend: SessionStoreBackend, tmp_path: Path
) -> None:
    records = [_record({"k": i, "n": i}) for i in range(8)]
    for record in records:
        await sqlite_backend.create(record)
    other = _other(tmp_path)
    seen: list[bool] = []

    async def save_then_look(record: SessionRecord) -> None:
        record.data["n"] = -1
        assert await sqlite_backend.update(record)
        # No await between the save's return and this read: it must be committed already.
        seen.append(_n_of(other, record) == -1)

    try:
        await asyncio.gather(*(save_then_look(r) for r in records))
    finally:
        other.close()
    assert seen == [True] * 8


async def test_writes_behind_another_connections_write_lock_wait_then_all_succeed(
    sqlite_backend: SessionStoreBackend, tmp_path: Path
) -> None:
    records = [_record({"n": i}) for i in range(10)]
    for record in records:
        await sqlite_backend.create(record)
    holder = _other(tmp_path)
    holder.execute("BEGIN IMMEDIATE")  # another process writing: the file is locked
    try:
        for record in records:
            record.data["n"] = record.data["n"] + 100
        pending = asyncio.gather(*(sqlite_backend.update(r) for r in records))
        for _ in range(10):
            await asyncio.sleep(0)  # every write has tried inline and gone to wait
        assert not pending.done()
        loaded = await sqlite_backend.load(records[0].id)  # reads still run meanwhile
        assert loaded is not None and loaded.data == {"n": 0}
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert await pending == [True] * 10
    for record in records:
        loaded = await sqlite_backend.load(record.id)
        assert loaded is not None and loaded.data == record.data


async def test_racing_logins_under_the_limit_each_keep_it(
    sqlite_backend: SessionStoreBackend,
) -> None:
    sqlite_backend.store.max_per_user = 2  # type: ignore[attr-defined]
    users = [f"u{i}" for i in range(4)]
    for user in users:  # each user over the limit by more than one: the trigger aborts
        for i in range(4):
            await sqlite_backend.create(_record({"user_id": user, "i": i}))
    anons = [await sqlite_backend.create(_record({"cart": i})) for i in range(8)]
    logins = [_record({"user_id": users[i % 4], "i": 100 + i}) for i in range(8)]
    moved = await asyncio.gather(
        *(sqlite_backend.rotate(a.id, r) for a, r in zip(anons, logins, strict=True))
    )
    assert moved == [True] * 8
    for i, user in enumerate(users):
        left = await sqlite_backend.list_sessions_for_user(user, tenant_id="t")
        assert sorted(int(r.data["i"]) for r in left) == [100 + i, 104 + i]


@pytest.mark.parametrize("writes", [1, 3])
async def test_writes_issued_at_once_behind_a_pending_checkpoint_all_land(
    sqlite_backend: SessionStoreBackend, writes: int
) -> None:
    hot = await _table(sqlite_backend)
    hot._checkpoint_pending = True  # as a requested checkpoint that has not run yet
    try:
        counts = await asyncio.gather(
            *(hot.execute("INSERT INTO t VALUES ($1, 0)", k) for k in range(writes))
        )
    finally:
        hot._checkpoint_pending = False
    assert counts == [1] * writes
    assert await hot.fetchrow("SELECT count(*) FROM t") == (writes,)
