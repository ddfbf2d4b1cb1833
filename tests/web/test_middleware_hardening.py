"""Web-layer hardening: a login racing another request of the same browser, and
tenants no store can hold. Over every store kind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from session_service import DefaultSessionService, SessionStoreBackend
from session_service.records import utcnow

from ..support.cookies import session_id_of
from ..support.webapp import build_app, settings_for

TTL = 3600


class Gate:
    """Holds a request inside its handler until the test lets it go (no sleeps)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def hold(self) -> None:
        self.entered.set()
        await self.release.wait()


@pytest.fixture
def service(backend: SessionStoreBackend, db_url: str, tmp_path: Path) -> DefaultSessionService:
    return DefaultSessionService(
        backend, settings_for(db_url, str(tmp_path), SESSION_TTL_SECONDS=str(TTL))
    )


def app_with_slow_routes(service: DefaultSessionService, gate: Gate) -> Starlette:
    async def slow_write(request: Request) -> Response:
        request.session["cart"] = "from the slow request"
        await gate.hold()
        return PlainTextResponse("written")

    async def slow_read(request: Request) -> Response:
        user = request.session.get("user_id")
        await gate.hold()
        return PlainTextResponse(str(user))

    app = build_app(service)
    app.router.routes.append(Route("/slow-write", slow_write, methods=["POST"]))
    app.router.routes.append(Route("/slow-read", slow_read))
    return app


@pytest.fixture
async def raced(service: DefaultSessionService) -> AsyncIterator[tuple[httpx.AsyncClient, Gate]]:
    gate = Gate()
    transport = httpx.ASGITransport(app=app_with_slow_routes(service, gate))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client, gate


async def race_login_against(client: httpx.AsyncClient, gate: Gate, slow: str) -> httpx.Response:
    """Start the slow request, log in meanwhile (``cycle_id``), then let the slow one finish."""
    method = "POST" if slow == "/slow-write" else "GET"
    slow_request = asyncio.ensure_future(client.request(method, slow))
    await gate.entered.wait()
    login = await client.post("/login", params={"user": "bob"})
    assert login.status_code == 200 and "Max-Age=0" not in login.headers["set-cookie"]
    gate.release.set()
    return await slow_request


async def test_a_write_racing_a_login_does_not_sign_the_user_out(
    raced: tuple[httpx.AsyncClient, Gate], backend: SessionStoreBackend
) -> None:
    client, gate = raced
    await client.post("/set", params={"theme": "dark"})
    response = await race_login_against(client, gate, "/slow-write")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers  # no Max-Age=0 over the login's cookie
    data = (await client.get("/read")).json()["data"]
    assert data == {"theme": "dark", "user_id": "bob"}
    assert await backend.count_sessions_for_user("bob") == 1


async def test_a_touch_racing_a_login_does_not_sign_the_user_out(
    raced: tuple[httpx.AsyncClient, Gate], backend: SessionStoreBackend
) -> None:
    client, gate = raced
    await client.post("/set", params={"theme": "dark"})
    sid = session_id_of(client)
    record = await backend.load(sid)
    assert record is not None
    record.expiry_date = utcnow() + timedelta(seconds=TTL // 2)  # an extension is due
    await backend.save(record)
    response = await race_login_against(client, gate, "/slow-read")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert (await client.get("/read")).json()["data"] == {"theme": "dark", "user_id": "bob"}


BAD_TENANTS = {"long": "t" * 256, "nul": "acme\x00evil", "surrogate": "acme\ud800"}


def tenant_from_header(scope: Scope) -> str | None:
    value = dict(scope["headers"]).get(b"x-tenant", b"").decode()
    return BAD_TENANTS.get(value, value) or None


@pytest.mark.parametrize("tenant", sorted(BAD_TENANTS))
async def test_a_tenant_no_store_can_hold_is_a_400_and_writes_nothing(
    service: DefaultSessionService,
    backend: SessionStoreBackend,
    tenant: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = build_app(service, tenant_resolver=tenant_from_header)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level(logging.INFO, logger="session_service"):
            response = await client.post("/set", params={"k": "v"}, headers={"x-tenant": tenant})
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("text/plain")
        assert len(response.text) < 100 and "set-cookie" not in response.headers
        assert len([r for r in caplog.records if "tenant" in r.getMessage()]) == 1
        assert all(r.levelno == logging.INFO for r in caplog.records)
        assert (await backend.stats()).total == 0
        ok = await client.post("/set", params={"k": "v"}, headers={"x-tenant": "t" * 255})
        assert ok.status_code == 200
    assert await backend.count_sessions_for_user("nobody", tenant_id="t" * 255) == 0
    assert (await backend.stats()).total == 1
