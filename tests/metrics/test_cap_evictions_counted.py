"""Sessions signed out by ``SESSION_MAX_PER_USER`` count as revoked
(``session_service.sessions.revoked``, docs/operations.md, "Metrics"), on every store kind:
an operator sees the cap's sign-outs as the users do, whichever path the store takes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, SessionStoreBackend, get_session

from ..support.webapp import build_app
from ._reader import metered_service, points, value

LIMIT = 2
Metered = tuple[DefaultSessionService, httpx.AsyncClient, InMemoryMetricReader]


async def _log_in(request: Request) -> Response:
    request.session["user_id"] = "alice"
    get_session(request).cycle_id()
    return PlainTextResponse("in")


def _app(service: DefaultSessionService) -> Starlette:
    """The test app with ``POST /log-in``: alice signs in (a rotation when there is a session)."""
    app = build_app(service)
    app.router.routes.append(Route("/log-in", _log_in, methods=["POST"]))
    return app


async def _signed_in(client: httpx.AsyncClient, n: int) -> None:
    """``n`` browsers, each signed in with no session before."""
    for _ in range(n):
        client.cookies.clear()
        assert (await client.post("/log-in")).text == "in"


@pytest.fixture
async def capped(
    backend: SessionStoreBackend, db_url: str, tmp_path: Path
) -> AsyncIterator[Metered]:
    service, reader = metered_service(backend, db_url, tmp_path, SESSION_MAX_PER_USER=str(LIMIT))

    transport = httpx.ASGITransport(app=_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield service, client, reader


@pytest.mark.parametrize("extra", [1, 3])
async def test_logins_past_the_cap_count_each_signed_out_session_as_revoked(
    capped: Metered, extra: int
) -> None:
    """A login of an anonymous session (the login path, a rotation), from LIMIT + extra
    browsers: each login past the cap signs one session out, and each is counted once."""
    service, client, reader = capped
    for _ in range(LIMIT + extra):
        client.cookies.clear()
        assert (await client.post("/set?cart=1")).status_code == 200  # anonymous
        assert (await client.post("/log-in")).text == "in"
    assert len(await service.list_user_sessions("alice")) == LIMIT
    found = points(reader)
    assert value(found, "session_service.sessions.rotated") == LIMIT + extra
    assert value(found, "session_service.sessions.revoked") == extra


async def test_sessions_created_signed_in_past_the_cap_count_as_revoked(
    capped: Metered,
) -> None:
    """A session created already signed in (no anonymous session first): the cap's other path."""
    service, client, reader = capped
    await _signed_in(client, LIMIT + 2)
    assert len(await service.list_user_sessions("alice")) == LIMIT
    found = points(reader)
    assert value(found, "session_service.sessions.created") == LIMIT + 2
    assert value(found, "session_service.sessions.revoked") == 2


async def test_a_login_past_a_lowered_cap_counts_every_session_it_signs_out(
    backend: SessionStoreBackend, db_url: str, tmp_path: Path
) -> None:
    """Sessions made before the cap was lowered: one login signs out all the extras at once
    (SQLite's general path, not its trigger's one-at-a-time), and counts each."""
    service, reader = metered_service(backend, db_url, tmp_path)

    transport = httpx.ASGITransport(app=_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await _signed_in(client, 4)  # no cap yet
        backend.store.max_per_user = LIMIT  # type: ignore[attr-defined]
        client.cookies.clear()
        await client.post("/set?cart=1")
        assert (await client.post("/log-in")).text == "in"
    assert len(await service.list_user_sessions("alice")) == LIMIT
    assert value(points(reader), "session_service.sessions.revoked") == 4 + 1 - LIMIT


@pytest.mark.stores("postgres")
async def test_a_schema_before_the_login_function_counts_them_too(
    backend: SessionStoreBackend, db_url: str, tmp_path: Path
) -> None:
    """Code deployed before ``migrate`` (no ``session_service_login``): the store's own
    statement signs the extras out and says how many."""
    from alembic import command
    from sqlalchemy.engine import Connection

    from session_service.stores.sql import migrate
    from session_service.stores.sql.store import SqlSessionStore

    store = backend.store
    assert isinstance(store, SqlSessionStore)

    def down(conn: Connection) -> None:
        command.downgrade(migrate._alembic_config(conn), "0007_limit_params")

    await store.run_migration(down)
    service, reader = metered_service(backend, db_url, tmp_path, SESSION_MAX_PER_USER=str(LIMIT))

    transport = httpx.ASGITransport(app=_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(LIMIT + 2):
            client.cookies.clear()
            await client.post("/set?cart=1")
            assert (await client.post("/log-in")).text == "in"
    assert len(await service.list_user_sessions("alice")) == LIMIT
    assert value(points(reader), "session_service.sessions.revoked") == 2
