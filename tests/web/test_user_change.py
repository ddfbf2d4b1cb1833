"""The web side of the lifetime policy, on every store kind, through the middleware:

* ``SESSION_ROTATE_ON_USER_CHANGE`` (default on): a request that sets, changes or removes
  ``session["user_id"]`` without ``cycle_id()`` gets a new id, data kept; the old cookie then
  loads nothing;
* ``SESSION_MAX_PER_USER``: the browser signed out by a newer login finds an empty session on
  its next request, and the devices list shows the sessions that stay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, get_session

from ..support.webapp import settings_for

COOKIE = "session_id"


async def set_user(request: Request) -> Response:
    request.session["user_id"] = request.query_params["user"]
    return PlainTextResponse("signed in")


async def login_cycled(request: Request) -> Response:
    session = get_session(request)
    session["user_id"] = request.query_params["user"]
    session.cycle_id()
    return PlainTextResponse("signed in")


async def drop_user(request: Request) -> Response:
    request.session.pop("user_id", None)
    return PlainTextResponse("signed out")


async def put(request: Request) -> Response:
    request.session["cart"] = request.query_params["cart"]
    return PlainTextResponse("put")


async def read(request: Request) -> Response:
    return JSONResponse(dict(request.session))


async def devices(request: Request) -> Response:
    service: DefaultSessionService = request.app.state.service
    session = get_session(request)
    infos = await service.list_user_sessions(
        session["user_id"], tenant_id=session.tenant_id, current=session
    )
    return JSONResponse([i.current for i in infos])


def build(service: DefaultSessionService) -> Starlette:
    routes = [
        Route("/set-user", set_user, methods=["POST"]),
        Route("/login", login_cycled, methods=["POST"]),
        Route("/drop-user", drop_user, methods=["POST"]),
        Route("/put", put, methods=["POST"]),
        Route("/read", read),
        Route("/devices", devices),
    ]
    app = Starlette(routes=routes, middleware=[service.session_layer()])
    app.state.service = service
    return app


MakeClient = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def make_client(db_url: str, tmp_path: Path) -> AsyncIterator[MakeClient]:
    """Browsers on services configured by ``env`` (one database; migrated once)."""
    services: list[DefaultSessionService] = []
    clients: list[httpx.AsyncClient] = []
    first = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    await first.migrate()
    services.append(first)

    def factory(**env: str) -> httpx.AsyncClient:
        service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path), **env))
        services.append(service)
        transport = httpx.ASGITransport(app=build(service))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(client)
        return client

    try:
        yield factory
    finally:
        for client in clients:
            await client.aclose()
        for service in services:
            await service.close()


async def _replay(client: httpx.AsyncClient, cookie: str) -> httpx.Response:
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie)
    return await client.get("/read")


@pytest.mark.parametrize(
    ("before", "step"),
    [
        ((), "/set-user?user=alice"),  # sets
        (("/set-user?user=alice",), "/set-user?user=bob"),  # changes
        (("/set-user?user=alice",), "/drop-user"),  # removes
    ],
)
async def test_a_user_change_without_cycle_id_rotates_the_id(
    make_client: MakeClient, before: tuple[str, ...], step: str
) -> None:
    client = make_client()
    assert (await client.post("/put?cart=3")).status_code == 200
    for path in before:
        await client.post(path)
    old = client.cookies[COOKIE]
    expected = dict((await client.get("/read")).json())
    response = await client.post(step)
    assert response.status_code == 200
    new = client.cookies[COOKIE]
    assert new != old
    after = (await client.get("/read")).json()
    assert after["cart"] == "3" == expected["cart"]  # the data is kept
    assert (await _replay(client, old)).json() == {}  # the old id never loads again
    assert (await _replay(client, new)).json() == after


async def test_setting_the_same_user_again_keeps_the_id(make_client: MakeClient) -> None:
    client = make_client()
    await client.post("/set-user?user=alice")
    old = client.cookies[COOKIE]
    await client.post("/set-user?user=alice")
    assert client.cookies[COOKIE] == old


async def test_a_change_of_other_keys_keeps_the_id(make_client: MakeClient) -> None:
    client = make_client()
    await client.post("/set-user?user=alice")
    old = client.cookies[COOKIE]
    await client.post("/put?cart=4")
    assert client.cookies[COOKIE] == old
    assert (await client.get("/read")).json() == {"user_id": "alice", "cart": "4"}


async def test_a_brand_new_session_with_a_user_is_simply_created(
    make_client: MakeClient,
) -> None:
    client = make_client()
    response = await client.post("/set-user?user=alice")
    assert len(response.headers.get_list("set-cookie")) == 1
    assert (await client.get("/read")).json() == {"user_id": "alice"}


async def test_off_keeps_the_id(make_client: MakeClient) -> None:
    client = make_client(SESSION_ROTATE_ON_USER_CHANGE="false")
    await client.post("/put?cart=1")
    old = client.cookies[COOKIE]
    await client.post("/set-user?user=alice")
    assert client.cookies[COOKIE] == old
    assert (await _replay(client, old)).json() == {"cart": "1", "user_id": "alice"}


@pytest.mark.parametrize("path", ["/login?user=alice", "/set-user?user=alice"])
async def test_a_browser_signed_out_by_the_limit_finds_an_empty_session(
    make_client: MakeClient, path: str
) -> None:
    browsers = [make_client(SESSION_MAX_PER_USER="2") for _ in range(3)]
    for browser in browsers:
        await browser.post("/put?cart=1")  # an anonymous session first, then a login
        assert (await browser.post(path)).status_code == 200
    first, second, third = browsers
    assert (await first.get("/read")).json() == {}
    assert (await second.get("/read")).json() == {"cart": "1", "user_id": "alice"}
    assert (await third.get("/read")).json() == {"cart": "1", "user_id": "alice"}
    assert sorted((await third.get("/devices")).json()) == [False, True]
