"""A read-only request moves the expiry exactly when more than a tenth of the TTL has passed
since it last moved, whatever shortcut the usual read takes; on every store kind.

The expiry is set a few seconds either side of the boundary (``now + 0.9 TTL``), so a read
finds the extension due or not due without waiting for the clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService
from session_service.backend import SessionStoreBackend
from session_service.records import utcnow
from session_service.web.session import get_session

from ..support.cookies import session_id_of
from ..support.webapp import CountingBackend, settings_for

TTL = 3600
#: Seconds either side of the boundary: far more than a request takes.
MARGIN = 30
OWN_TTL = 30 * 24 * 3600


@pytest.fixture
async def counted(db_url: str) -> AsyncIterator[CountingBackend]:
    inner = await SessionStoreBackend.connect(db_url)
    await inner.migrate()
    backend = CountingBackend(inner)
    try:
        yield backend
    finally:
        await backend.close()


async def _login(request: Request) -> Response:
    session = get_session(request)
    session["user_id"] = "alice"
    session.cycle_id()
    return PlainTextResponse("in")


async def _set_expiry(request: Request) -> Response:
    get_session(request).set_expiry(int(request.query_params["seconds"]))
    return PlainTextResponse("ok")


async def _read(request: Request) -> Response:
    return JSONResponse({"data": dict(request.session)})


async def _client(
    counted: CountingBackend, db_url: str, tmp_path: Path, **extra: str
) -> httpx.AsyncClient:
    settings = settings_for(db_url, str(tmp_path), SESSION_TTL_SECONDS=str(TTL), **extra)
    routes = [
        Route("/login", _login, methods=["POST"]),
        Route("/set-expiry", _set_expiry, methods=["POST"]),
        Route("/read", _read),
    ]
    app = Starlette(
        routes=routes, middleware=[DefaultSessionService(counted, settings).session_layer()]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def _read_after_moving_expiry(
    client: httpx.AsyncClient, counted: CountingBackend, left: float
) -> tuple[int, str | None]:
    """Sign in, set the stored expiry ``left`` seconds ahead, read once: the touches that read
    made and its ``Set-Cookie``."""
    assert (await client.post("/login")).status_code == 200
    session_id = session_id_of(client)
    record = await counted.load(session_id)
    assert record is not None
    record.expiry_date = utcnow() + timedelta(seconds=left)
    await counted.save(record)
    touches = counted.calls["touch"]
    response = await client.get("/read")
    assert response.status_code == 200
    assert response.json()["data"] == {"user_id": "alice"}
    return counted.calls["touch"] - touches, response.headers.get("set-cookie")


@pytest.mark.parametrize(
    ("left", "due"),
    [(TTL * 0.9 - MARGIN, True), (TTL * 0.9 + MARGIN, False), (TTL - MARGIN, False)],
)
async def test_a_read_moves_the_expiry_only_past_a_tenth_of_the_ttl(
    counted: CountingBackend, db_url: str, tmp_path: Path, left: float, due: bool
) -> None:
    async with await _client(counted, db_url, tmp_path) as client:
        touches, cookie = await _read_after_moving_expiry(client, counted, left)
    assert touches == (1 if due else 0)
    assert (cookie is not None) is due
    if due:
        record = await counted.load(session_id_of(client))
        assert record is not None
        assert record.expiry_date > utcnow() + timedelta(seconds=TTL - MARGIN)


async def test_a_read_never_moves_the_expiry_when_not_rolling(
    counted: CountingBackend, db_url: str, tmp_path: Path
) -> None:
    async with await _client(counted, db_url, tmp_path, SESSION_ROLLING="false") as client:
        touches, cookie = await _read_after_moving_expiry(client, counted, TTL * 0.5)
    assert (touches, cookie) == (0, None)


async def test_a_read_of_a_session_with_its_own_ttl_follows_that_ttl(
    counted: CountingBackend, db_url: str, tmp_path: Path
) -> None:
    """``set_expiry`` of 30 days: a tenth is 3 days, so 26 days left is due (the default
    TTL's rule, an hour, would say not due)."""
    async with await _client(counted, db_url, tmp_path) as client:
        assert (await client.post("/login")).status_code == 200
        assert (
            await client.post("/set-expiry", params={"seconds": str(OWN_TTL)})
        ).status_code == 200
        session_id = session_id_of(client)
        record = await counted.load(session_id)
        assert record is not None
        record.expiry_date = utcnow() + timedelta(days=26)
        await counted.save(record)
        touches = counted.calls["touch"]
        response = await client.get("/read")
    assert counted.calls["touch"] - touches == 1
    assert f"Max-Age={OWN_TTL}" in response.headers["set-cookie"]
