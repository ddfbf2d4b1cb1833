"""Two services with ``SESSION_CACHE=local`` on one database, each with its own listener, as
two app servers (each app on its own event loop, as two processes would be): a session
signed out through one is refused by the other as soon as the other has heard it, and the
other serves reads of live sessions from its cache."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from session_service import DefaultSessionService
from session_service.cache import CachedSessionStore

from ..support.cache import Heard, count_loads
from ..support.cookies import session_id_of
from ..support.webapp import build_app, settings_for

pytestmark = pytest.mark.stores("postgres", "redis")


def _call(client: TestClient, fn: Any, *args: Any) -> Any:
    assert client.portal is not None
    return client.portal.call(fn, *args)


@pytest.fixture
def two_servers(db_url: str, tmp_path: Path) -> Iterator[list[tuple[TestClient, Any]]]:
    services = [
        DefaultSessionService(None, settings_for(db_url, str(tmp_path), SESSION_CACHE="local"))
        for _ in range(2)
    ]
    asyncio.run(services[0].migrate())
    with TestClient(build_app(services[0])) as one, TestClient(build_app(services[1])) as two:
        pairs = [(one, services[0]), (two, services[1])]
        for client, service in pairs:
            store = service.get_session_store().store
            assert isinstance(store, CachedSessionStore)
            _call(client, store.wait_listening)
        yield pairs
        for client, service in pairs:
            _call(client, service.close)


def test_signed_out_through_one_server_refused_by_the_other(
    two_servers: list[tuple[TestClient, Any]],
) -> None:
    (one, _), (two, second) = two_servers
    assert one.post("/login?user=alice").status_code == 200
    two.cookies.update(one.cookies)  # the same browser, balanced onto the other server
    store = second.get_session_store().store
    assert isinstance(store, CachedSessionStore)
    assert two.get("/read").json()["data"] == {"user_id": "alice"}
    asked: list[str] = _call(two, lambda: _count(store))
    assert two.get("/read").json()["data"] == {"user_id": "alice"}
    assert asked == []  # served from the second server's cache
    sid = session_id_of(one)  # the browser's id (the store keeps only its hash)
    heard: Heard = _call(two, lambda: _heard(store))
    assert one.post("/logout").status_code == 200
    _call(two, heard.until, sid)
    assert two.get("/read").json()["data"] == {}  # refused: a fresh, empty session


async def _count(store: CachedSessionStore) -> list[str]:
    return count_loads(store)


async def _heard(store: CachedSessionStore) -> Heard:
    return Heard(store)
