"""DefaultSessionService: construction, lifecycle, cleanup, websockets and scope handling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message

from session_service import DefaultSessionService, SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.stores.sql.postgres.engine import CLEANUP_LOCK_KEY

from ..support.webapp import SECRET, build_app, settings_for


def expired(user: str = "old") -> SessionRecord:
    return SessionRecord(
        id=new_session_id(), data={"user_id": user}, expiry_date=utcnow() - timedelta(1)
    )


HOUR = timedelta(hours=1)


def live(user: str = "now") -> SessionRecord:
    return SessionRecord(
        id=new_session_id(), data={"user_id": user}, expiry_date=utcnow() + timedelta(1)
    )


def test_from_env_does_no_database_io(tmp_path: Path) -> None:
    # An unreachable database does not stop the app from being built.
    service = DefaultSessionService.from_env(
        {
            "SESSION_DB_URL": "postgresql://u:pw@127.0.0.1:1/none",
            "SESSION_DATA_DIR": str(tmp_path),
            "SESSION_SECRET_KEY": SECRET,
        }
    )
    assert service.get_session_store().kind == "postgres"
    assert "pw" not in repr(service)


async def test_async_with_migrates_when_asked_and_closes(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, str(tmp_path))
    async with DefaultSessionService(db_url, settings, auto_migrate=True) as service:
        await service.get_session_store().save(live("alice"))
        assert await service.count_sessions_for_user("alice") == 1
        assert await service.get_session_ids_for_user("alice")
        assert await service.clear_all_sessions() == 1


async def test_lifespan_helper_migrates_and_serves(db_url: str, tmp_path: Path) -> None:
    service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)), auto_migrate=True)
    app = build_app(service)
    async with service.lifespan(app):
        assert (await service.get_session_store().stats()).total == 0


async def test_cleanup_task_deletes_expired_sessions(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_CLEANUP_INTERVAL_SECONDS="3600")
    service = DefaultSessionService(db_url, settings)
    await service.migrate()
    store = service.get_session_store()
    await store.save(expired())
    await store.save(live())
    async with service:
        await asyncio.wait_for(service._cleanup_ran.wait(), timeout=30)
        stats = await store.stats()
    assert (stats.total, stats.live) == (1, 1)


async def test_cleanup_interval_zero_turns_it_off(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_CLEANUP_INTERVAL_SECONDS="0")
    service = DefaultSessionService(db_url, settings)
    await service.migrate()
    await service.get_session_store().save(expired())
    async with service:
        assert service._cleanup_task is None
    assert (await service.get_session_store().stats()).total == 1
    await service.close()


async def test_cleanup_failure_is_logged_and_the_app_keeps_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "postgresql://u:topsecretpw@127.0.0.1:1/none"
    service = DefaultSessionService(url, settings_for(url, str(tmp_path)))
    with caplog.at_level(logging.WARNING, logger="session_service"):
        async with service:
            await asyncio.wait_for(service._cleanup_ran.wait(), timeout=30)
            task = service._cleanup_task
            assert task is not None and not task.done()
    assert "cleanup failed, will retry" in caplog.text
    assert "topsecretpw" not in caplog.text


async def test_only_one_cluster_instance_cleans_at_a_time(pg_db_url: str, tmp_path: Path) -> None:
    url = pg_db_url
    env = {
        "SESSION_DB_URL": url,
        "DEPLOYMENT": "cluster",
        "SESSION_SECRET_KEY": SECRET,
        "SESSION_DATA_DIR": str(tmp_path),
    }
    service = DefaultSessionService.from_env(env)
    await service.migrate()
    await service.get_session_store().save(expired())
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    other_instance = await asyncpg.connect(dsn)
    try:
        await other_instance.execute("SELECT pg_advisory_lock($1)", CLEANUP_LOCK_KEY)
        assert await service.cleanup_once() is None
        await other_instance.execute("SELECT pg_advisory_unlock($1)", CLEANUP_LOCK_KEY)
        assert await service.cleanup_once() == 1
    finally:
        await other_instance.close()
        await service.close()


def test_websocket_sees_the_session_and_its_writes_are_not_saved(
    db_url: str, tmp_path: Path
) -> None:
    service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)), auto_migrate=True)
    app = build_app(service)
    app.router.lifespan_context = lambda _app: service.lifespan(_app)
    with TestClient(app) as client:
        client.post("/login", params={"user": "alice"})
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_json() == {"user": "alice"}
            assert ws.receive_json() == {"write": "allowed"}  # as with Starlette's session
        assert client.get("/read").json()["data"] == {"user_id": "alice"}


async def test_lifespan_scope_passes_through_the_middleware(db_url: str, tmp_path: Path) -> None:
    service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    app = build_app(service)
    sent: list[Message] = []
    incoming: Iterator[Message] = iter(
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )

    async def receive() -> Message:
        return next(incoming)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    await app(scope, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    await service.close()


async def test_backend_connect_reports_an_unreachable_database() -> None:
    from session_service import SessionStoreUnavailable

    with pytest.raises(SessionStoreUnavailable, match="cannot reach"):
        await SessionStoreBackend.connect("postgresql://u:pw@127.0.0.1:1/none")


SignIn = Callable[[str, "str | None"], Awaitable[httpx.AsyncClient]]


def _tenant_app(
    service: DefaultSessionService, everywhere: Callable[[Request], Awaitable[Response]]
) -> tuple[dict[str, Any], SignIn]:
    """An app whose tenant is the ``x-tenant`` header: ``POST /login?user=`` signs in,
    ``POST /out`` is ``everywhere``. Returns the client arguments and ``sign_in(user, tenant)``,
    a client of its own signed in as ``user`` in ``tenant``."""

    async def login(request: Request) -> Response:
        request.session["user_id"] = request.query_params["user"]
        return JSONResponse({})

    app = Starlette(
        routes=[
            Route("/login", login, methods=["POST"]),
            Route("/out", everywhere, methods=["POST"]),
        ],
        middleware=[
            service.session_layer(
                lambda scope: dict(scope["headers"]).get(b"x-tenant", b"").decode() or None
            )
        ],
    )
    base: dict[str, Any] = {"transport": httpx.ASGITransport(app=app), "base_url": "http://t"}

    async def sign_in(user: str, tenant: str | None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(**base, headers={"x-tenant": tenant} if tenant else {})
        assert (await client.post(f"/login?user={user}")).status_code == 200
        return client

    return base, sign_in


async def test_sign_out_everywhere_stays_in_the_requests_tenant(
    db_url: str, tmp_path: Path
) -> None:
    """acme's alice signs out everywhere: evil's alice (same user id) and acme's bob stay in."""

    service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    await service.migrate()

    async def everywhere(request: Request) -> Response:
        return JSONResponse({"cleared": await service.sign_out_everywhere(request)})

    base, sign_in = _tenant_app(service, everywhere)

    try:
        acme_alice = [await sign_in("alice", "acme") for _ in range(2)]
        evil_alice = await sign_in("alice", "evil")
        untenanted_alice = await sign_in("alice", None)
        acme_bob = await sign_in("bob", "acme")
        response = await acme_alice[0].post("/out")
        assert response.json() == {"cleared": 2}
        assert "Max-Age=0" in response.headers["set-cookie"]  # this browser is signed out too
        assert await service.count_sessions_for_user("alice", tenant_id="acme") == 0
        assert await service.count_sessions_for_user("alice", tenant_id="evil") == 1
        assert await service.count_sessions_for_user("bob", tenant_id="acme") == 1
        assert await service.count_sessions_for_user("alice") == 2  # evil's and the untenanted

        assert (await untenanted_alice.post("/out")).json() == {"cleared": 1}
        assert await service.count_sessions_for_user("alice", tenant_id="evil") == 1
        async with httpx.AsyncClient(**base) as anonymous:
            assert (await anonymous.post("/out")).json() == {"cleared": 0}
        for client in (*acme_alice, evil_alice, untenanted_alice, acme_bob):
            await client.aclose()
    finally:
        await service.close()


class LoginBeforeEachStoreCall(SessionStoreBackend):
    """A real backend on which, while ``armed``, another device of ``user`` signs in (without a
    tenant, straight on the store) just before each store operation starts: the moment a
    concurrent login on another instance can land between two operations of a request.

    ``calls`` names the operations made while armed, ``logins`` the sessions those logins
    created. Deterministic: no threads, no timing.
    """

    def __init__(self, inner: SessionStoreBackend, user: str) -> None:
        super().__init__(inner.store)
        self.user = user
        self.armed = False
        self.calls: list[str] = []
        self.logins: list[str] = []

    def _expose(self, name: str, method: Any) -> Any:
        async def after_a_login(*args: Any, **kwargs: Any) -> Any:
            if self.armed:
                self.calls.append(name)
                record = SessionRecord(new_session_id(), {"user_id": self.user}, utcnow() + HOUR)
                await self.store.create(record)
                self.logins.append(record.id)
            return await method(*args, **kwargs)

        return after_a_login


async def test_sign_out_everywhere_without_tenant_is_one_store_operation(
    db_url: str, tmp_path: Path
) -> None:
    """An untenanted alice signs out everywhere: exactly her untenanted sessions end, in one
    atomic store operation, so a login of hers that lands before any of its store operations
    starts is signed out too (the list-then-delete it replaces let such a login survive)."""
    backend = LoginBeforeEachStoreCall(SessionStoreBackend.from_url(db_url), "alice")
    service = DefaultSessionService(backend, settings_for(db_url, str(tmp_path)))
    await service.migrate()

    async def everywhere(request: Request) -> Response:
        backend.armed = True
        try:
            return JSONResponse({"cleared": await service.sign_out_everywhere(request)})
        finally:
            backend.armed = False

    _, sign_in = _tenant_app(service, everywhere)

    clients = [await sign_in("alice", None) for _ in range(2)]
    clients += [await sign_in("alice", "t1"), await sign_in("bob", None)]
    try:
        response = await clients[0].post("/out")
        for sid in backend.logins:
            assert await backend.load(sid) is None, "a login before the sign-out survived it"
        assert backend.calls == ["clear_sessions_for_user"]
        assert response.json() == {"cleared": 2 + len(backend.logins)}
        assert await service.count_sessions_for_user("alice") == 1
        assert await service.count_sessions_for_user("alice", tenant_id="t1") == 1
        assert await service.count_sessions_for_user("bob") == 1
    finally:
        for client in clients:
            await client.aclose()
        await service.close()
