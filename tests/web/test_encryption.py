"""Encryption at rest through the middleware, on every store kind: a session's data is
sealed in the store and reads back whole; a login (``cycle_id``, or a ``user_id`` change)
re-seals it for the new id; a session whose data no longer opens (its key removed, or the
stored value changed) is a fresh empty session, never a 500, and its id is not reused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, get_session
from session_service.storable import at_rest_id
from session_service.stores.base import SessionStoreBase
from session_service.testing.encryption import keys_setting, overwrite_stored, stored_data

from ..support.webapp import settings_for

pytest.importorskip("cryptography", reason="the `encryption` extra is not installed")

COOKIE = "session_id"
CARD = "4111-1111-1111-1111"


async def put(request: Request) -> Response:
    request.session["card"] = CARD
    request.session["n"] = int(request.query_params.get("n", "1"))
    return PlainTextResponse("put")


async def login(request: Request) -> Response:
    session = get_session(request)
    session["user_id"] = "alice"
    session.cycle_id()
    return PlainTextResponse("signed in")


async def read(request: Request) -> Response:
    return JSONResponse({"data": dict(request.session), "id": get_session(request).id})


def build(service: DefaultSessionService) -> Starlette:
    routes = [
        Route("/put", put, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/read", read),
    ]
    return Starlette(routes=routes, middleware=[service.session_layer()])


class Browser:
    """One browser and the service it talks to (the keys are that service's settings)."""

    def __init__(self, service: DefaultSessionService) -> None:
        self.service = service
        transport = httpx.ASGITransport(app=build(service), raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    @property
    def store(self) -> SessionStoreBase:
        store = self.service.get_session_store().store
        assert isinstance(store, SessionStoreBase)
        return store

    async def session_id(self) -> str:
        found = (await self.client.get("/read")).json()["id"]
        assert isinstance(found, str)
        return found


MakeBrowser = Callable[[str], Browser]


@pytest.fixture
async def make_browser(db_url: str, tmp_path: Path) -> AsyncIterator[MakeBrowser]:
    """Browsers on services with ``SESSION_ENCRYPTION_KEYS`` as given (one database)."""
    browsers: list[Browser] = []
    first = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    await first.migrate()

    def factory(keys: str) -> Browser:
        settings = settings_for(db_url, str(tmp_path), SESSION_ENCRYPTION_KEYS=keys)
        browsers.append(Browser(DefaultSessionService(db_url, settings)))
        return browsers[-1]

    try:
        yield factory
    finally:
        for browser in browsers:
            await browser.client.aclose()
            await browser.service.close()
        await first.close()


async def test_data_is_sealed_in_the_store_and_reads_back(make_browser: MakeBrowser) -> None:
    browser = make_browser(keys_setting("k1"))
    assert (await browser.client.post("/put?n=7")).status_code == 200
    sid = await browser.session_id()
    raw = await stored_data(browser.store, sid)
    assert CARD not in json.dumps(raw) and set(raw) >= {"card", "n"}
    assert (await browser.client.get("/read")).json()["data"] == {"card": CARD, "n": 7}


async def test_a_login_reseals_the_data_for_the_new_id(make_browser: MakeBrowser) -> None:
    browser = make_browser(keys_setting("k1"))
    await browser.client.post("/put")
    before = await browser.session_id()
    assert (await browser.client.post("/login")).status_code == 200
    after = await browser.session_id()
    assert after != before
    assert (await browser.client.get("/read")).json()["data"] == {
        "card": CARD,
        "n": 1,
        "user_id": "alice",
    }
    await browser.client.post("/put?n=2")  # a patch of the rotated session
    assert (await browser.client.get("/read")).json()["data"]["n"] == 2


async def _fresh_after(browser: Browser, cookie: str) -> None:
    browser.client.cookies.clear()
    browser.client.cookies.set(COOKIE, cookie)
    response = await browser.client.get("/read")
    assert response.status_code == 200
    assert response.json() == {"data": {}, "id": None}
    browser.client.cookies.clear()
    browser.client.cookies.set(COOKIE, cookie)
    response = await browser.client.post("/put")
    assert response.status_code == 200
    assert response.cookies[COOKIE] != cookie  # a new session, not the old id


async def test_a_removed_key_gives_a_fresh_session_not_a_500(make_browser: MakeBrowser) -> None:
    material: dict[str, str] = {}
    old = make_browser(keys_setting("A", keys=material))
    await old.client.post("/put")
    cookie = old.client.cookies[COOKIE]
    rotated = make_browser(keys_setting("B", "A", keys=material))  # A still opens
    rotated.client.cookies.set(COOKIE, cookie)
    assert (await rotated.client.get("/read")).json()["data"]["card"] == CARD
    await _fresh_after(make_browser(keys_setting("B", keys=material)), cookie)


async def test_a_changed_stored_value_gives_a_fresh_session(make_browser: MakeBrowser) -> None:
    browser = make_browser(keys_setting("k1"))
    await browser.client.post("/put")
    cookie = browser.client.cookies[COOKIE]
    sid = await browser.session_id()
    record = await browser.store._load(at_rest_id(sid))  # as stored, under the id's hash
    assert record is not None
    record.id = sid  # overwrite_stored files it under the hash again
    sealed = record.data["card"]
    record.data["card"] = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    await overwrite_stored(browser.store, record)
    await _fresh_after(browser, cookie)
