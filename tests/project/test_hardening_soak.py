"""The soak test's write accounting: only an acknowledged write missing is lost.

A write the server applied but whose answer the client never got (a client timeout) is
counted apart, as applied but unacknowledged. The journey runs at a tiny size against the
soak app itself on a real SQLite file; a transport in front of it plays the network: it loses
one answer after the app has applied the write, or acknowledges a write the app never saw.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks._soak_load import Stats, User, WriteTally, tally_writes, user_journey
from session_service import DefaultSessionService

from ..support.webapp import SECRET, settings_for


@pytest.mark.parametrize(
    ("acked", "unacked", "highest", "stored", "expected"),
    [
        (3, 0, 3, 3, WriteTally(0, 0, 0)),  # every write acknowledged and stored
        (2, 1, 3, 3, WriteTally(0, 1, 0)),  # one answer lost, the write applied
        (2, 1, 2, 2, WriteTally(0, 0, 0)),  # one answer lost, the write never applied
        (3, 0, 3, 2, WriteTally(1, 0, 0)),  # an acknowledged write missing: data loss
        (3, 1, 4, 3, WriteTally(1, 1, 0)),  # both at once: the values tell them apart
        (1, 0, 1, 3, WriteTally(0, 0, 2)),  # more stored than ever attempted
    ],
)
def test_tally_tells_lost_from_unacknowledged(
    acked: int, unacked: int, highest: int, stored: int, expected: WriteTally
) -> None:
    assert tally_writes(acked, unacked, highest, stored) == expected


class _Network(httpx.AsyncBaseTransport):
    """The app behind a network that misbehaves once, on the ``nth`` ``POST /incr``:
    ``lose-answer`` lets the app apply it, then times out; ``fake-ack`` answers 200 for it
    without the app ever seeing it."""

    def __init__(self, app: Any, fault: str, nth: int) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._fault, self._nth, self._seen = fault, nth, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/incr":
            self._seen += 1
            if self._seen == self._nth:
                if self._fault == "fake-ack":
                    return httpx.Response(200, text=str(self._nth), request=request)
                response = await self._inner.handle_async_request(request)
                await response.aread()  # the app answered; the answer never arrives
                raise httpx.ReadTimeout("timed out", request=request)
        return await self._inner.handle_async_request(request)


@pytest.fixture
async def journey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[str, int, int], Any]]:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'soak.sqlite'}"
    settings = settings_for(db_url, str(tmp_path))
    monkeypatch.setenv("SESSION_DB_URL", db_url)  # the module builds its own app on import
    monkeypatch.setenv("SESSION_SECRET_KEY", SECRET)
    monkeypatch.setenv("SESSION_DATA_DIR", str(tmp_path))
    soak_app = importlib.import_module("benchmarks._soak_app")
    service = DefaultSessionService(db_url, settings)
    await service.migrate()

    async def run(fault: str, nth: int, writes: int) -> tuple[Stats, User]:
        transport = _Network(soak_app.build(service), fault, nth)
        async with httpx.AsyncClient(transport=transport) as client:
            stats = Stats()
            user = User("u1", ["http://testserver"], client, stats)
            await user_journey(user, writes)
        return stats, user

    try:
        yield run
    finally:
        await service.close()


async def test_an_applied_write_whose_answer_was_lost_is_not_a_lost_write(
    journey: Callable[[str, int, int], Any],
) -> None:
    stats, user = await journey("lose-answer", 2, 3)
    assert (user.acked, user.unacked) == (2, 1)
    assert stats.errors == {"ReadTimeout": 1}
    assert stats.lost_writes == 0
    assert stats.applied_unacknowledged_writes == 1
    assert stats.unexplained_writes == 0
    assert stats.users_done == 1


async def test_an_acknowledged_write_missing_is_a_lost_write(
    journey: Callable[[str, int, int], Any],
) -> None:
    stats, user = await journey("fake-ack", 3, 3)
    assert (user.acked, user.unacked) == (3, 0)
    assert stats.lost_writes == 1
    assert stats.applied_unacknowledged_writes == 0
