"""SQLite only: one store used from two event loops in two threads at once.

Starlette's ``TestClient`` runs each request of a client opened without ``with`` on an event
loop of its own, in its own thread, while a client opened with ``with`` keeps its loop (and
the service's cleanup task) running in another: ``docs/getting-started.md`` does exactly this
with a browser and a phone. The store runs its statements inline on one connection with one
reused cursor (``SqliteHotPath``); a second thread's statement on that cursor while the first
thread's is running fails ("Recursive use of cursors not allowed") and the request answers
503. A thread other than the inline connection's own takes the writer thread instead.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

ROUNDS = 400


@pytest.fixture
def store(sqlite_backend: SessionStoreBackend) -> SessionStoreBackend:
    return sqlite_backend


async def _work(store: SessionStoreBackend, who: str, errors: list[BaseException]) -> None:
    """Create, read, change and delete sessions, ``ROUNDS`` times; record what failed."""
    for i in range(ROUNDS):
        try:
            record = SessionRecord(
                new_session_id(), {"who": who, "i": i}, utcnow() + timedelta(hours=1)
            )
            await store.create(record)
            loaded = await store.load(record.id)
            assert loaded is not None and loaded.data == {"who": who, "i": i}
            record.data = {"who": who, "i": i + 1}
            await store.save(record)
            await store.delete(record.id)
            assert await store.load(record.id) is None
        except BaseException as exc:  # every failure is the finding
            errors.append(exc)


async def test_two_loops_in_two_threads_share_the_store_without_failures(
    store: SessionStoreBackend,
) -> None:
    here: list[BaseException] = []
    there: list[BaseException] = []
    other = threading.Thread(target=lambda: asyncio.run(_work(store, "thread", there)))
    other.start()
    await _work(store, "loop", here)
    await asyncio.to_thread(other.join)
    assert not here and not there, (here[:3], there[:3])
