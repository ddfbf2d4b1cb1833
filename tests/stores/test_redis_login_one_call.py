"""``SESSION_MAX_PER_USER`` on Redis: a login past the limit is one call when the store knows
the user's sessions (session_service/stores/redis/user_keys.py), and still signs out exactly
the least recently used extras when it does not (sessions written by another store).

The calls are counted by wrapping ``run_command`` (every command still reaches the server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.stores.redis import pool

pytestmark = pytest.mark.stores("redis")

LIMIT = 5


def _record(data: dict[str, Any]) -> SessionRecord:
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    seen: list[tuple[Any, ...]] = []
    original = pool.run_command

    async def counted(*args: Any) -> Any:
        seen.append(args[1:])
        return await original(*args)

    monkeypatch.setattr(pool, "run_command", counted)
    yield seen


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[tuple[SessionStoreBackend, SessionStoreBackend]]:
    a, b = SessionStoreBackend.from_url(db_url), SessionStoreBackend.from_url(db_url)
    await a.migrate()
    for backend in (a, b):
        backend.store.max_per_user = LIMIT  # type: ignore[attr-defined]
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def _login(backend: SessionStoreBackend, user: str) -> str:
    anonymous = await backend.create(_record({"cart": 1}))
    login = _record({"user_id": user})
    assert await backend.rotate(anonymous.id, login)
    return login.id


async def _left(backend: SessionStoreBackend, ids: list[str]) -> list[str]:
    return [sid for sid in ids if await backend.load(sid) is not None]


async def test_logins_past_the_limit_from_one_store_take_one_call_each(
    two: tuple[SessionStoreBackend, SessionStoreBackend], calls: list[tuple[Any, ...]]
) -> None:
    a, _ = two
    ids = [await _login(a, "alice") for _ in range(LIMIT)]
    for _ in range(LIMIT + 3):
        anonymous = await a.create(_record({"cart": 1}))
        login = _record({"user_id": "alice"})
        calls.clear()
        assert await a.rotate(anonymous.id, login)
        assert len(calls) == 1, calls  # no second round asking for the other sessions' keys
        ids.append(login.id)
    assert await _left(a, ids) == ids[-LIMIT:]  # the least recently used went, in order


async def test_a_login_learns_the_sessions_written_elsewhere(
    two: tuple[SessionStoreBackend, SessionStoreBackend], calls: list[tuple[Any, ...]]
) -> None:
    a, b = two
    ids = [await _login(b, "bob") for _ in range(LIMIT)]  # a knows none of them
    ids.append(await _login(a, "bob"))  # asks for their keys: two calls, and a remembers them
    anonymous = await a.create(_record({"cart": 1}))
    login = _record({"user_id": "bob"})
    calls.clear()
    assert await a.rotate(anonymous.id, login)
    assert len(calls) == 1, calls
    ids.append(login.id)
    assert await _left(a, ids) == ids[-LIMIT:]


async def test_logins_alternating_between_stores_leave_the_most_recent(
    two: tuple[SessionStoreBackend, SessionStoreBackend],
) -> None:
    a, b = two
    ids = []
    for i in range(3 * LIMIT):  # each store's memory of carol's sessions is always stale
        ids.append(await _login((a, b)[i % 2], "carol"))
        assert await _left(a, ids) == ids[-LIMIT:]
    await b.clear_sessions_for_user("carol")  # every remembered key now names nothing
    fresh = [await _login(a, "carol") for _ in range(LIMIT + 2)]
    assert await _left(b, ids + fresh) == fresh[-LIMIT:]
