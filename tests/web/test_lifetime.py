"""Session lifetime through the middleware: remember-me, browser-session cookies, the absolute
deadline in the cookie and in the devices list, and no extra writes near the deadline.

Real app, real store (SQLite, PostgreSQL, Redis, memory); a session's start is moved into the
past with :func:`tests.support.lifetime.age_session` instead of waiting.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, SessionStoreBackend, get_session
from session_service.errors import SessionConfigError, SessionDataError
from session_service.records import utcnow
from session_service.web.session import Session

from ..support.lifetime import age_session
from ..support.webapp import CountingBackend, settings_for


async def login(request: Request) -> Response:
    session = get_session(request)
    session["user_id"] = "alice"
    session.cycle_id()
    remember = request.query_params.get("remember")
    if remember is not None:
        session.set_expiry(30 * 24 * 3600 if remember == "1" else 7200)
        session.persistent = remember == "1"
    return PlainTextResponse("in")


async def shorten(request: Request) -> Response:
    get_session(request).set_expiry(int(request.query_params["seconds"]))
    return PlainTextResponse("ok")


async def persist(request: Request) -> Response:
    get_session(request).persistent = request.query_params["on"] == "1"
    return PlainTextResponse("ok")


async def read(request: Request) -> Response:
    return PlainTextResponse(str(request.session.get("user_id")))


async def write(request: Request) -> Response:
    request.session["n"] = request.query_params.get("n", "1")
    return PlainTextResponse("ok")


async def devices(request: Request) -> Response:
    service: DefaultSessionService = request.app.state.service
    infos = await service.list_user_sessions("alice")
    return JSONResponse(
        [
            {
                "expires_in": (i.expiry_date - utcnow()).total_seconds(),
                "absolute": None if i.absolute_expiry is None else i.absolute_expiry.isoformat(),
            }
            for i in infos
        ]
    )


class App:
    def __init__(self, service: DefaultSessionService, backend: CountingBackend) -> None:
        self.service, self.backend = service, backend
        routes = [
            Route("/login", login, methods=["POST"]),
            Route("/shorten", shorten, methods=["POST"]),
            Route("/persist", persist, methods=["POST"]),
            Route("/read", read),
            Route("/write", write, methods=["POST"]),
            Route("/devices", devices),
        ]
        app = Starlette(routes=routes, middleware=[service.session_layer()])
        app.state.service = service
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    def session_id(self) -> str:
        cookie = self.client.cookies["session_id"]
        return cookie.rpartition(".")[0]


@pytest.fixture
async def make_app(db_url: str, tmp_path: Path) -> AsyncIterator[object]:
    made: list[App] = []

    async def make(**env: str) -> App:
        settings = settings_for(db_url, str(tmp_path), **env)
        backend = CountingBackend(SessionStoreBackend.from_settings(settings))
        service = DefaultSessionService(backend, settings)
        await service.migrate()
        app = App(service, backend)
        made.append(app)
        return app

    yield make
    for app in made:
        await app.client.aclose()
        await app.service.close()


def max_age(response: httpx.Response) -> int | None:
    header = response.headers["set-cookie"]
    assert "Expires=" not in header or "Max-Age=0" in header
    found = re.search(r"Max-Age=(\d+)", header)
    return None if found is None else int(found.group(1))


async def test_remember_me_gives_a_30_day_persistent_cookie(make_app: object) -> None:
    app = await make_app()  # type: ignore[operator]
    response = await app.client.post("/login?remember=1")
    assert max_age(response) == 30 * 24 * 3600
    (info,) = (await app.client.get("/devices")).json()
    assert 29 * 24 * 3600 < info["expires_in"] <= 30 * 24 * 3600


async def test_without_remember_me_a_browser_session_cookie_and_a_short_idle_ttl(
    make_app: object,
) -> None:
    app = await make_app()  # type: ignore[operator]
    response = await app.client.post("/login?remember=0")
    assert max_age(response) is None  # a browser-session cookie: no Max-Age, no Expires
    (info,) = (await app.client.get("/devices")).json()
    assert 7000 < info["expires_in"] <= 7200  # the devices list shows the real expiry
    assert (await app.client.post("/write?n=2")).status_code == 200
    assert max_age(await app.client.post("/persist?on=0")) is None


async def test_a_persistent_session_overrides_a_browser_session_setting(make_app: object) -> None:
    app = await make_app(SESSION_COOKIE_PERSISTENT="false")  # type: ignore[operator]
    assert max_age(await app.client.post("/login")) is None
    assert max_age(await app.client.post("/persist?on=1")) == 1209600


async def test_set_expiry_moves_the_expiry_at_once(make_app: object) -> None:
    app = await make_app()  # type: ignore[operator]
    await app.client.post("/login")
    response = await app.client.post("/shorten?seconds=900")
    assert max_age(response) == 900
    (info,) = (await app.client.get("/devices")).json()
    assert 800 < info["expires_in"] <= 900


async def test_the_cookie_never_outlives_the_absolute_deadline(make_app: object) -> None:
    app = await make_app(SESSION_TTL_SECONDS="600", SESSION_ABSOLUTE_TTL_SECONDS="3600")  # type: ignore[operator]
    assert max_age(await app.client.post("/login")) == 600
    await age_session(app.backend, app.session_id(), timedelta(seconds=3500))
    age = max_age(await app.client.post("/write?n=2"))
    assert age is not None and 90 <= age <= 100
    (info,) = (await app.client.get("/devices")).json()
    assert info["absolute"] is not None and info["expires_in"] <= 100


async def test_a_session_past_its_absolute_deadline_is_signed_out(make_app: object) -> None:
    app = await make_app(SESSION_TTL_SECONDS="600", SESSION_ABSOLUTE_TTL_SECONDS="3600")  # type: ignore[operator]
    await app.client.post("/login")
    await age_session(app.backend, app.session_id(), timedelta(seconds=3601))
    response = await app.client.get("/read")
    assert response.text == "None"
    assert "Max-Age=0" in response.headers["set-cookie"]


async def test_a_login_starts_a_new_absolute_lifetime(make_app: object) -> None:
    app = await make_app(SESSION_TTL_SECONDS="600", SESSION_ABSOLUTE_TTL_SECONDS="3600")  # type: ignore[operator]
    await app.client.post("/login")
    await age_session(app.backend, app.session_id(), timedelta(seconds=3500))
    assert max_age(await app.client.post("/login")) == 600  # not the 100 s left before
    (info,) = (await app.client.get("/devices")).json()
    assert info["expires_in"] > 500


async def test_near_the_absolute_deadline_reads_do_not_write(make_app: object) -> None:
    app = await make_app(SESSION_TTL_SECONDS="600", SESSION_ABSOLUTE_TTL_SECONDS="3600")  # type: ignore[operator]
    await app.client.post("/login")
    await age_session(app.backend, app.session_id(), timedelta(seconds=3500))
    before = app.backend.writes
    for _ in range(5):
        assert (await app.client.get("/read")).text == "alice"
    # The expiry already stops at the deadline: moving it again would change nothing.
    assert app.backend.writes == before


async def test_the_absolute_limit_is_checked_at_start_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    for bad in ("599", "-1", "soon", str(10 * 366 * 24 * 3600 + 1)):
        with pytest.raises(SessionConfigError, match="SESSION_ABSOLUTE_TTL_SECONDS"):
            settings_for(url, str(tmp_path), SESSION_TTL_SECONDS="600",
                         SESSION_ABSOLUTE_TTL_SECONDS=bad)  # fmt: skip
    assert settings_for(url, str(tmp_path)).absolute_ttl_seconds == 0
    ok = settings_for(url, str(tmp_path), SESSION_ABSOLUTE_TTL_SECONDS="1209600")
    assert ok.absolute_ttl_seconds == 1209600


@pytest.mark.parametrize("bad", [0, -5, 10 * 366 * 24 * 3600 + 1, 1.5, "60", True])
def test_set_expiry_refuses_what_is_not_1_s_to_10_years(bad: object) -> None:
    session = Session({"a": 1}, session_id="x")
    with pytest.raises(SessionDataError, match="set_expiry"):
        session.set_expiry(bad)  # type: ignore[arg-type]
    assert not session.modified and session.idle_ttl is None


def test_persistent_refuses_what_is_not_a_bool_or_none() -> None:
    session = Session({"a": 1}, session_id="x")
    with pytest.raises(SessionDataError, match="persistent"):
        session.persistent = "yes"  # type: ignore[assignment]
    assert session.persistent is None
