"""SQLite only: ``SESSION_MAX_PER_USER`` done inside the login's own ``UPDATE`` (issue 21).

The sign-out lives in a TEMP trigger on the store's own connections, so these tests check what
that design could get wrong: a user over the limit by more than one is still brought back to
the limit, the trigger is on every connection that runs the login (the inline one, the writer
thread's, and both again after a reconnect), it follows the store's ``max_per_user`` (lowered,
switched off), and two stores with different limits on one file each keep their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ..conftest import sqlite_url


def _record(data: dict[str, Any]) -> SessionRecord:
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1), None, "t")


def _limit(backend: SessionStoreBackend, n: int) -> None:
    backend.store.max_per_user = n  # type: ignore[attr-defined]


def _hot(backend: SessionStoreBackend) -> Any:
    return backend.store._hot  # type: ignore[attr-defined]


async def _connect(tmp_path: Path) -> SessionStoreBackend:
    return await SessionStoreBackend.connect(sqlite_url(tmp_path))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SessionStoreBackend]:
    backend = await _connect(tmp_path)
    await backend.migrate()
    try:
        yield backend
    finally:
        await backend.close()


async def _sessions(backend: SessionStoreBackend, first: int, count: int) -> None:
    """``count`` sessions of alice, numbered from ``first``: made (and so last used) in that
    order."""
    for i in range(first, first + count):
        await backend.create(_record({"user_id": "alice", "i": i}))


async def _login(backend: SessionStoreBackend, i: int) -> str:
    anon = await backend.create(_record({"cart": i}))
    record = _record({"user_id": "alice", "i": i})
    assert await backend.rotate(anon.id, record)
    return record.id


async def _left(backend: SessionStoreBackend) -> list[int]:
    listed = await backend.list_sessions_for_user("alice", tenant_id="t")
    return sorted(int(r.data["i"]) for r in listed)


async def test_a_user_over_the_limit_by_more_than_one_is_brought_back_to_it(
    store: SessionStoreBackend,
) -> None:
    await _sessions(store, 0, 8)  # no limit yet: eight sessions
    _limit(store, 3)
    await _login(store, 100)
    assert await _left(store) == [6, 7, 100]  # the two most recently used, and the new one
    await _login(store, 101)
    assert await _left(store) == [7, 100, 101]


async def test_a_lowered_limit_is_followed_at_the_next_login(store: SessionStoreBackend) -> None:
    _limit(store, 5)
    for i in range(6):
        await _login(store, i)
    assert await _left(store) == [1, 2, 3, 4, 5]
    _limit(store, 2)
    await _login(store, 6)
    assert await _left(store) == [5, 6]


async def test_a_limit_switched_off_signs_nobody_out(store: SessionStoreBackend) -> None:
    _limit(store, 2)
    for i in range(3):
        await _login(store, i)
    assert await _left(store) == [1, 2]
    _limit(store, 0)
    for i in range(3, 6):
        await _login(store, i)
    assert await _left(store) == [1, 2, 3, 4, 5]


async def test_exactly_at_the_limit_nobody_is_signed_out(store: SessionStoreBackend) -> None:
    _limit(store, 3)
    for i in range(3):
        await _login(store, i)
    assert await _left(store) == [0, 1, 2]
    await _login(store, 3)
    assert await _left(store) == [1, 2, 3]


async def test_a_login_on_the_writer_thread_keeps_the_limit(store: SessionStoreBackend) -> None:
    """What runs a write when the file is locked: the writer thread's own connection. A
    pending checkpoint sends every write there (see ``SqliteHotPath._run``)."""
    _limit(store, 2)
    await _login(store, 0)  # the inline connection first: the trigger is on it already
    hot = _hot(store)
    hot._checkpoint_pending = True
    try:
        for i in range(1, 4):
            await _login(store, i)
        assert await _left(store) == [2, 3]
        _limit(store, 0)
        await _sessions(store, 10, 3)  # over by more than one: the general path, there too
        _limit(store, 2)
        await _login(store, 4)
    finally:
        hot._checkpoint_pending = False
    assert await _left(store) == [4, 12]


async def test_the_limit_holds_after_both_connections_reconnect(
    store: SessionStoreBackend,
) -> None:
    _limit(store, 2)
    hot = _hot(store)
    hot._checkpoint_pending = True  # open the writer's connection, with the trigger
    try:
        await _login(store, 0)
    finally:
        hot._checkpoint_pending = False
    await _login(store, 1)
    # What a failure does to each (``_forget_inline``; the writer drops its own on an error).
    hot._forget_inline()
    writer, hot._writer = hot._writer, None
    writer.close()
    await _login(store, 2)
    assert await _left(store) == [1, 2]
    hot._checkpoint_pending = True
    try:
        await _login(store, 3)
    finally:
        hot._checkpoint_pending = False
    assert await _left(store) == [2, 3]


async def test_two_stores_with_different_limits_on_one_file_keep_their_own(
    store: SessionStoreBackend, tmp_path: Path
) -> None:
    four, unlimited = await _connect(tmp_path), await _connect(tmp_path)
    try:
        _limit(store, 2)
        _limit(four, 4)
        await _login(store, 0)  # the trigger with 2 on this store's connection
        for i in range(1, 6):
            await _login(four, i)
        assert await _left(store) == [2, 3, 4, 5]
        for i in range(6, 8):
            await _login(unlimited, i)
        assert await _left(store) == [2, 3, 4, 5, 6, 7]
        await _login(store, 8)
        assert await _left(store) == [7, 8]
    finally:
        await four.close()
        await unlimited.close()


async def test_a_limit_set_before_the_table_exists_holds_once_it_does(tmp_path: Path) -> None:
    """The service sets the limit when it starts, possibly before ``migrate`` made the table
    the trigger is on (and a statement may have opened the connection already)."""
    backend = await _connect(tmp_path)
    with contextlib.suppress(Exception):  # opens the inline connection; no table to read yet
        await backend.load(new_session_id())
    try:
        _limit(backend, 1)
        await backend.migrate()
        await _login(backend, 0)
        await _login(backend, 1)
        assert await _left(backend) == [1]
    finally:
        await backend.close()
