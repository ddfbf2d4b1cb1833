"""The web layer under what real apps and hostile peers do.

An IPv6 zone id from a peer or a trusted proxy never reaches ``SessionInfo.ip``; a websocket
may write its session (not saved, as with Starlette's); a middleware mounted in a sub-app
migrates on its first request when ``auto_migrate=True`` and no lifespan ran; a service never
closed leaves no SQLite connection to complain about its closed event loop.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from session_service import DefaultSessionService, SessionStoreBackend

from ..support.webapp import SECRET, CountingBackend, build_app, settings_for


def _service(
    db_url: str, tmp_path: Path, *, migrate: bool = True, **settings: str
) -> DefaultSessionService:
    settings.setdefault("SESSION_CLEANUP_INTERVAL_SECONDS", "0")
    service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path), **settings))
    if migrate:
        asyncio.run(service.migrate())
    return service


def _finally(service: DefaultSessionService, call: Any) -> Any:
    """``call(service)``, then close the service, on a loop of their own (the stores work from
    any loop; closing on the same loop leaves no connection behind)."""

    async def run() -> Any:
        try:
            return await call(service)
        finally:
            await service.close()

    return asyncio.run(run())


# -- IPv6 zone ids (item 6) --------------------------------------------------------------------

_ZONED = "fe80::1%<svg onload=alert(1)>"
_LONG_ZONE = "fe80::1%" + "a" * 300


@pytest.mark.parametrize(
    ("peer", "forwarded", "recorded"),
    [
        (_ZONED, None, None),  # the peer's own address, from a server that passes it on
        (_LONG_ZONE, None, None),
        ("fe80::2%eth0", None, None),
        # A trusted proxy's header with a zone id is not a clean list: ignored as a whole.
        ("10.0.0.1", _ZONED, "10.0.0.1"),
        ("10.0.0.1", f"203.0.113.5, {_LONG_ZONE}", "10.0.0.1"),
        ("10.0.0.1", "203.0.113.5", "203.0.113.5"),
    ],
)
@pytest.mark.parametrize("tracking", ["true", "coarse"])
def test_an_ipv6_zone_id_never_reaches_the_recorded_ip(
    db_url: str,
    tmp_path: Path,
    peer: str,
    forwarded: str | None,
    recorded: str | None,
    tracking: str,
) -> None:
    service = _service(
        db_url, tmp_path, SESSION_TRACK_DEVICES=tracking, SESSION_TRUSTED_PROXIES="10.0.0.0/8"
    )
    client = TestClient(build_app(service), client=(peer, 50000))
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    response = client.post("/login", params={"user": "alice"}, headers=headers)
    assert response.status_code == 200, response.text
    [info] = _finally(service, lambda s: s.list_user_sessions("alice"))
    if recorded is not None and tracking == "coarse":
        recorded = recorded.rsplit(".", 1)[0] + ".0/24"
    assert info.ip == recorded


# -- writes to a websocket's session (item 16) -------------------------------------------------


async def _guarded_socket(websocket: WebSocket) -> None:
    """What Starlette-Login does: mark the session before deciding, refuse the anonymous."""
    websocket.session["_fresh"] = False
    if "user_id" not in websocket.session:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    websocket.session["seen_socket"] = True
    await websocket.send_json(dict(websocket.session))
    await websocket.close()


def _socket_app(service: DefaultSessionService) -> Starlette:
    app = build_app(service)
    app.router.routes.append(WebSocketRoute("/guarded", _guarded_socket))
    return app


def test_a_websocket_may_write_its_session_and_nothing_is_saved(
    db_url: str, tmp_path: Path
) -> None:
    service = _service(db_url, tmp_path)
    counting = CountingBackend(service.get_session_store())
    service = DefaultSessionService(counting, service.settings)
    client = TestClient(_socket_app(service))
    client.post("/login", params={"user": "alice"})
    writes = counting.writes
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"user": "alice"}
        assert ws.receive_json() == {"write": "allowed"}
    with client.websocket_connect("/guarded") as ws:
        assert ws.receive_json() == {"user_id": "alice", "_fresh": False, "seen_socket": True}
    assert counting.writes == writes  # the writes lived as long as the connection
    assert client.get("/read").json()["data"] == {"user_id": "alice"}


def test_an_anonymous_websocket_that_writes_is_refused_by_the_app_not_crashed(
    db_url: str, tmp_path: Path
) -> None:
    service = _service(db_url, tmp_path)
    client = TestClient(_socket_app(service))
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/guarded"):
        pass
    assert refused.value.code == 1008
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"user": None}
        assert ws.receive_json() == {"write": "allowed"}
    assert _finally(service, lambda s: s.get_session_store().dump_all_sessions()) == []


# -- auto_migrate in a mounted sub-app (item 17) -----------------------------------------------


def _mounted(service: DefaultSessionService) -> Starlette:
    """The middleware inside a sub-app, as sqladmin and starlette-admin mount theirs: the
    outer app's lifespan never reaches it."""
    return Starlette(routes=[Mount("/admin", app=build_app(service))])


@pytest.mark.parametrize("entered", [True, False], ids=["with", "without"])
def test_auto_migrate_in_a_mounted_sub_app_migrates_on_the_first_request(
    db_url: str, tmp_path: Path, entered: bool
) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_CLEANUP_INTERVAL_SECONDS="0")
    service = DefaultSessionService(db_url, settings, auto_migrate=True)
    client = TestClient(_mounted(service))
    if entered:
        client.__enter__()
    try:
        assert client.post("/admin/set", params={"cart": "3"}).status_code == 200
        assert client.get("/admin/read").json()["data"] == {"cart": "3"}
    finally:
        if entered:
            client.__exit__(None, None, None)
        else:
            asyncio.run(service.close())


async def test_concurrent_first_requests_migrate_once(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_CLEANUP_INTERVAL_SECONDS="0")
    counting = CountingBackend(SessionStoreBackend.from_url(db_url))
    service = DefaultSessionService(counting, settings, auto_migrate=True)
    transport = httpx.ASGITransport(app=_mounted(service))  # no lifespan, as a mount gets
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            responses = await asyncio.gather(
                *(client.post("/admin/set", params={"n": str(i)}) for i in range(8))
            )
            assert [r.status_code for r in responses] == [200] * 8
            assert (await client.post("/admin/set", params={"n": "9"})).status_code == 200
        assert counting.calls["migrate"] == 1
    finally:
        await service.close()


async def test_without_auto_migrate_a_request_never_migrates(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_CLEANUP_INTERVAL_SECONDS="0")
    counting = CountingBackend(SessionStoreBackend.from_url(db_url))
    service = DefaultSessionService(counting, settings)
    transport = httpx.ASGITransport(app=_mounted(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/admin/set", params={"n": "1"})
        assert counting.calls["migrate"] == 0
    finally:
        await service.close()


@pytest.mark.stores("postgres")
async def test_a_first_request_migration_that_cannot_finish_is_a_503_within_the_timeout(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds the migration lock: the request waits at most
    SESSION_DB_TIMEOUT_SECONDS and answers 503; a later request tries again (here it finds
    the schema migrated by that other process meanwhile)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from session_service.stores.sql.postgres.engine import MIGRATION_LOCK_KEY

    settings = settings_for(
        db_url,
        str(tmp_path),
        SESSION_CLEANUP_INTERVAL_SECONDS="0",
        SESSION_DB_TIMEOUT_SECONDS="1",
    )
    service = DefaultSessionService(db_url, settings, auto_migrate=True)
    dsn = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    other = await asyncpg.connect(dsn)
    transport = httpx.ASGITransport(app=_mounted(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await other.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
            blocked = await client.post("/admin/set", params={"n": "1"})
            assert blocked.status_code == 503
            assert "longer than SESSION_DB_TIMEOUT_SECONDS (1 s)" in caplog.text
            await other.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
            elsewhere = SessionStoreBackend.from_url(db_url)  # the other process migrates
            await elsewhere.migrate()
            await elsewhere.close()
            assert (await client.post("/admin/set", params={"n": "2"})).status_code == 200
    finally:
        await other.close()
        await service.close()


# -- a service never closed (item 19) ----------------------------------------------------------

_NEVER_CLOSED = """
import asyncio, gc, sys
import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from session_service import DefaultSessionService

async def write(request):
    request.session["a"] = 1
    return PlainTextResponse("ok")

async def main():
    service = DefaultSessionService.from_env()
    await service.migrate()
    app = Starlette(routes=[Route("/", write)], middleware=[service.session_layer()])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/")).status_code == 200
    # never closed: service.close() is not called

if sys.argv[1] == "asyncio.run":
    asyncio.run(main())
else:  # a runner that closes its loop and leaves it current (as some test runners do)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())
    loop.close()
gc.collect()
# the connection's worker thread reports here, if it has anything to report
import threading
for thread in threading.enumerate():
    if thread is not threading.main_thread():
        thread.join(timeout=10)
print("done")
"""


@pytest.mark.stores("sqlite")
@pytest.mark.parametrize("runner", ["asyncio.run", "closed-loop"])
def test_a_service_never_closed_leaves_no_connection_behind(
    db_url: str, tmp_path: Path, runner: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_")}
    env.update(
        SESSION_DB_URL=db_url,
        SESSION_DATA_DIR=str(tmp_path),
        SESSION_SECRET_KEY=SECRET,
        SESSION_CLEANUP_INTERVAL_SECONDS="0",
    )
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", _NEVER_CLOSED, runner],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "done", result.stderr
    assert "Event loop is closed" not in result.stderr
    assert "was deleted before being closed" not in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
