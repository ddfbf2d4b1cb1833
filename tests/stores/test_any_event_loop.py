"""Stores work from any event loop: a fresh ``asyncio.run`` per call, and
Starlette's ``TestClient`` without ``with`` (a fresh loop per request), on every store kind.

A pool or engine connection belongs to the loop that opened it; once that loop is closed it
cannot even be closed. These tests change loops between every call, the way scripts and the
test suites of Starlette and starsessions do, and expect no error, never a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from session_service import DefaultSessionService, SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from ..support.webapp import build_app, settings_for


def record(user: str) -> SessionRecord:
    expiry = utcnow() + timedelta(hours=1)
    return SessionRecord(id=new_session_id(), data={"user_id": user}, expiry_date=expiry)


def test_a_store_serves_one_asyncio_run_after_another(db_url: str) -> None:
    backend = SessionStoreBackend.from_url(db_url)

    def run(work: Callable[[], Awaitable[Any]]) -> Any:
        async def call() -> Any:
            return await work()

        return asyncio.run(call())  # a new loop each time; the previous one is closed

    run(backend.migrate)
    alice = record("alice")
    run(lambda: backend.save(alice))
    assert run(lambda: backend.load("x")) is None
    assert run(lambda: backend.load("x")) is None  # the repro: twice
    loaded = run(lambda: backend.load(alice.id))
    assert loaded is not None and loaded.data == {"user_id": "alice"}
    moved = record("alice")
    assert run(lambda: backend.rotate(alice.id, moved))  # the SQLAlchemy engine
    assert run(lambda: backend.count_sessions_for_user("alice")) == 1
    assert run(lambda: backend.delete_expired_if_leader()) == 0
    run(backend.close)
    assert run(lambda: backend.clear_sessions_for_user("alice")) == 1  # usable after close
    run(backend.close)


def test_testclient_without_with_serves_every_request_on_a_fresh_loop(
    db_url: str, tmp_path: Path
) -> None:
    service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    asyncio.run(service.migrate())
    client = TestClient(build_app(service))  # no `with`: each request runs on its own loop

    assert client.post("/login?user=alice").status_code == 200  # create, then rotate
    assert client.post("/set?colour=blue").status_code == 200  # write
    read = client.get("/read")
    assert read.status_code == 200
    assert read.json()["data"] == {"user_id": "alice", "colour": "blue"}
    assert client.post("/logout").status_code == 200
    assert client.get("/read").json()["data"] == {}

    assert client.post("/login?user=bob").status_code == 200
    assert asyncio.run(service.clear_sessions_for_user("bob")) == 1
    assert client.get("/read").json()["data"] == {}
    asyncio.run(service.close())
    assert client.post("/login?user=carol").status_code == 200  # still usable
    asyncio.run(service.close())
