"""Revocation races: a session revoked while its own requests are in flight stays revoked.

Each iteration logs a user in, then runs a request of that session (a write, or a login-style
``cycle_id``) concurrently with a revocation from elsewhere: ``clear_sessions_for_user`` from
another app instance, or a logout from another device holding the same cookie. Whatever the
interleaving, afterwards the user has no live session and the next request of the client
sees an empty session (API §3, behaviours 6 and 9). Both backends, hundreds of times over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, get_session
from session_service.backend import SessionStoreBackend

from .webapp import settings_for

ITERATIONS = 300
#: The by-id revocations share the update path already raced above; fewer rounds suffice.
BY_ID_ITERATIONS = 150
USER = "racer"


async def _login(request: Request) -> Response:
    request.session["user_id"] = USER
    request.session["n"] = 0
    get_session(request).cycle_id()
    return PlainTextResponse("in")


async def _bump(request: Request) -> Response:
    """A signed-in write: an anonymous session is left alone, so it stays empty."""
    session = request.session
    if "user_id" in session:
        session["n"] = int(session["n"]) + 1
    return PlainTextResponse("bumped")


async def _recycle(request: Request) -> Response:
    """A privilege change of a signed-in session: its id rotates."""
    session = get_session(request)
    if "user_id" in session:
        session["n"] = int(session["n"]) + 1
        session.cycle_id()
    return PlainTextResponse("recycled")


async def _logout(request: Request) -> Response:
    get_session(request).flush()
    return PlainTextResponse("out")


async def _whoami(request: Request) -> Response:
    return JSONResponse(dict(request.session))


def _app(service: DefaultSessionService) -> Starlette:
    routes = [
        Route("/login", _login, methods=["POST"]),
        Route("/bump", _bump, methods=["POST"]),
        Route("/recycle", _recycle, methods=["POST"]),
        Route("/logout", _logout, methods=["POST"]),
        Route("/whoami", _whoami),
    ]
    return Starlette(routes=routes, middleware=[service.session_layer()])


@pytest.fixture
async def service(db_url: str, tmp_path: Path) -> AsyncIterator[DefaultSessionService]:
    svc = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    await svc.migrate()
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def other_instance(db_url: str) -> AsyncIterator[SessionStoreBackend]:
    """A second instance on the same database, with its own connections (the admin side)."""
    backend = SessionStoreBackend.from_url(db_url)
    try:
        yield backend
    finally:
        await backend.close()


def _client(service: DefaultSessionService) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(service))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _shifted(awaitable: Awaitable[Any], ticks: int) -> Any:
    """``awaitable``, started ``ticks`` event-loop turns late: varies the interleaving only."""
    for _ in range(ticks):
        await asyncio.sleep(0)
    return await awaitable


async def _race(request: Awaitable[Any], revoke: Awaitable[Any], i: int) -> None:
    """Run both at once, each iteration with a different head start for one side."""
    ticks = i % 7
    if i % 2:
        await asyncio.gather(_shifted(request, ticks), revoke)
    else:
        await asyncio.gather(request, _shifted(revoke, ticks))


async def _assert_revoked(client: httpx.AsyncClient, admin: SessionStoreBackend, i: int) -> None:
    assert await admin.count_sessions_for_user(USER) == 0, f"iteration {i}: a session came back"
    seen = (await client.get("/whoami")).json()
    assert seen == {}, f"iteration {i}: the revoked session still answers with {seen}"


@pytest.mark.parametrize("path", ["/bump", "/recycle"])
async def test_clear_user_during_in_flight_requests_never_brings_a_session_back(
    service: DefaultSessionService, other_instance: SessionStoreBackend, path: str
) -> None:
    async with _client(service) as client:
        for i in range(ITERATIONS):
            client.cookies.clear()
            assert (await client.post("/login")).status_code == 200
            assert await other_instance.count_sessions_for_user(USER) == 1
            request = client.post(path)
            revoke = other_instance.clear_sessions_for_user(USER)
            await _race(request, revoke, i)
            await _assert_revoked(client, other_instance, i)


async def test_logout_elsewhere_during_in_flight_writes_never_brings_the_session_back(
    service: DefaultSessionService, other_instance: SessionStoreBackend
) -> None:
    async with _client(service) as laptop, _client(service) as phone:
        for i in range(BY_ID_ITERATIONS):
            laptop.cookies.clear()
            phone.cookies.clear()
            await laptop.post("/login")
            # The same session on a second device (its cookie copied over) logs out.
            phone.cookies.update(laptop.cookies)
            await _race(laptop.post("/bump"), phone.post("/logout"), i)
            await _assert_revoked(laptop, other_instance, i)
            assert (await phone.get("/whoami")).json() == {}


async def test_sign_out_this_session_elsewhere_during_in_flight_writes_is_final(
    service: DefaultSessionService, other_instance: SessionStoreBackend
) -> None:
    """The demo's "sign out this one": another instance deletes the session by its id."""
    async with _client(service) as client:
        for i in range(BY_ID_ITERATIONS):
            client.cookies.clear()
            await client.post("/login")
            (session_id,) = await other_instance.get_session_ids_for_user(USER)
            await _race(client.post("/bump"), other_instance.delete(session_id), i)
            await _assert_revoked(client, other_instance, i)
