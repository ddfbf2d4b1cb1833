"""Open websockets of a revoked session are closed with 4401 (``SESSION_CACHE=local``), on a
real PostgreSQL and Redis: at once while the cache's channel listens (the revocation comes
from another process: a store of its own, on another event loop), and at the next message
while it is down."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from session_service import DefaultSessionService, SessionStoreBackend
from session_service.cache import CachedSessionStore

from ..support.cache import Heard, state_change
from ..support.cookies import session_id_of
from ..support.webapp import login, settings_for

pytestmark = pytest.mark.stores("postgres", "redis")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        try:
            text = await websocket.receive_text()
        except WebSocketDisconnect:
            return
        await websocket.send_text(f"{websocket.session.get('user_id')}:{text}")


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, CachedSessionStore]]:
    settings = settings_for(db_url, str(tmp_path), SESSION_CACHE="local")
    service = DefaultSessionService(None, settings)
    store = service.get_session_store().store
    assert isinstance(store, CachedSessionStore)
    app = Starlette(
        routes=[Route("/login", login, methods=["POST"]), WebSocketRoute("/ws", echo)],
        middleware=[service.session_layer()],
    )
    asyncio.run(service.migrate())
    with TestClient(app) as client:
        _call(client, store.wait_listening)
        yield client, store
        _call(client, service.close)


def _call(client: TestClient, fn: Any, *args: Any) -> Any:
    """``fn(*args)`` on the app's event loop (where the service's cache and channel live)."""
    assert client.portal is not None
    return client.portal.call(fn, *args)


def _revoke_elsewhere(db_url: str, user: str) -> None:
    """Another process signs the user out (its own store, its own loop)."""

    async def revoke() -> None:
        other = SessionStoreBackend.from_url(db_url)
        try:
            assert await other.clear_sessions_for_user(user) == 1
        finally:
            await other.close()

    asyncio.run(revoke())


def _session_id(client: TestClient, store: CachedSessionStore) -> str:
    """The id the browser holds (the store keeps only its hash)."""
    return session_id_of(client)


def test_a_revoked_sessions_websocket_is_closed_while_the_channel_listens(
    served: tuple[TestClient, CachedSessionStore], db_url: str
) -> None:
    client, store = served
    assert client.post("/login?user=alice").status_code == 200
    sid = _session_id(client, store)
    heard: Any = _call(client, lambda: _heard(store))
    with client.websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "alice:hi"
        _revoke_elsewhere(db_url, "alice")
        _call(client, heard.until, sid)
        ws.send_text("after")  # reaches the app only after the check: closed instead
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4401


def test_while_the_channel_is_down_the_next_message_closes_it(
    served: tuple[TestClient, CachedSessionStore], db_url: str
) -> None:
    client, store = served
    assert client.post("/login?user=alice").status_code == 200
    with client.websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "alice:hi"
        _call(client, _channel_down, store)
        _revoke_elsewhere(db_url, "alice")  # unheard
        ws.send_text("after")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4401


def test_a_websocket_of_a_live_session_stays_open(
    served: tuple[TestClient, CachedSessionStore], db_url: str
) -> None:
    client, store = served
    assert client.post("/login?user=alice").status_code == 200
    alice = _session_id(client, store)
    client.cookies.clear()
    assert client.post("/login?user=bob").status_code == 200
    heard: Any = _call(client, lambda: _heard(store))
    with client.websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "bob:hi"
        _revoke_elsewhere(db_url, "alice")  # someone else's session
        _call(client, heard.until, alice)
        ws.send_text("still")
        assert ws.receive_text() == "bob:still"


async def _heard(store: CachedSessionStore) -> Heard:
    return Heard(store)


async def _channel_down(store: CachedSessionStore) -> None:
    """Make the channel's pings fail for good (a connection that is lost and stays lost)."""
    channel: Any = store.channel
    channel.retry_first = 3600.0

    async def unanswered() -> None:
        raise ConnectionError("no answer")

    channel._ping = unanswered
    await state_change(store, listening=False)
