"""Limits through the service and the web layer: 429 with its headers from the middleware,
503 when the store is down, the examples, the demo's guarded sign-in, cleanup and the CLI."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from session_service import DefaultSessionService, SessionConfigError, SessionStoreBackend

from ..cli.test_cli import Cli, cli, ok
from ..support.limits import FakeClock
from ..support.webapp import settings_for

__all__ = ["cli"]

ROOT = Path(__file__).resolve().parents[2]


def limited_app(service: DefaultSessionService) -> Starlette:
    async def api(request: Request) -> Response:
        result = await service.limits.enforce("api:" + request.url.path, limit=2, window=30)
        return PlainTextResponse(f"ok, {result.remaining} left")

    return Starlette(routes=[Route("/api", api)], middleware=[service.session_layer()])


@pytest.fixture
def service(backend: SessionStoreBackend, db_url: str, tmp_path: Path) -> DefaultSessionService:
    return DefaultSessionService(backend, settings_for(db_url, str(tmp_path)), clock=FakeClock())


async def test_over_the_limit_is_a_429_with_retry_after_and_ratelimit_headers(
    service: DefaultSessionService,
) -> None:
    transport = httpx.ASGITransport(app=limited_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/api")).text == "ok, 1 left"
        assert (await client.get("/api")).text == "ok, 0 left"
        refused = await client.get("/api")
        assert service.clock is not None
        service.clock.advance(0.5)  # type: ignore[attr-defined]
        later = await client.get("/api")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["ratelimit-limit"] == "2"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-reset"] == "30"
    assert later.status_code == 429 and later.headers["retry-after"] == "30"  # 29.5 rounds up


async def test_limits_on_an_unreachable_store_answer_503(tmp_path: Path) -> None:
    down = "postgresql://nobody:pw@127.0.0.1:1/none"
    service = DefaultSessionService(down, settings_for(down, str(tmp_path)))
    transport = httpx.ASGITransport(app=limited_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/api")
    await service.close()
    assert response.status_code == 503
    assert "pw" not in response.text


async def test_a_store_without_limit_storage_is_a_clear_error(
    backend: SessionStoreBackend, tmp_path: Path
) -> None:
    class OwnStore:  # a store of the user's own: everything but the limits
        def __init__(self, inner: object) -> None:
            self._inner = inner
            self.kind = "mine"

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

    service = DefaultSessionService(SessionStoreBackend(OwnStore(backend.store)))  # type: ignore[arg-type]
    with pytest.raises(SessionConfigError, match="no storage for rate limits"):
        await service.limits.hit("k", limit=1, window=1)
    assert await service.cleanup_once() == 0  # the session cleanup still works


@pytest.mark.stores("sqlite", "postgres", "memory")  # Redis expires keys on its own clock
async def test_service_cleanup_deletes_expired_limit_and_counter_rows(
    service: DefaultSessionService,
) -> None:
    clock = service.clock
    assert isinstance(clock, FakeClock)
    await service.limits.hit("gone", limit=1, window=1)
    await service.limits.hit("kept", limit=1, window=100)
    await service.counters.add("gone", 1, ttl=1)
    clock.advance(5)
    await service.cleanup_once()
    storage = service.limits.storage
    assert await storage.log("gone") == []
    assert len(await storage.log("kept")) == 1
    assert await storage.delete_expired(10**12) == 1  # only "kept" was left


# -- examples -------------------------------------------------------------------------------


def _fresh_import(name: str) -> ModuleType:
    sys.modules.pop(name, None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(name)


@pytest.fixture
def demo(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SESSION_DB_URL", db_url)
    monkeypatch.setenv("SESSION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SESSION_SECRET_KEY", raising=False)
    with TestClient(_fresh_import("examples.demo").app) as client:
        yield client


def test_demo_wrong_password_three_times_says_try_again_in_minutes(demo: TestClient) -> None:
    assert "the password is <code>demo</code>" in demo.get("/").text
    for _ in range(2):
        wrong = demo.post("/login", data={"name": "Ada", "password": "nope"})
        assert wrong.status_code == 401 and "Wrong password" in wrong.text
    third = demo.post("/login", data={"name": "ada", "password": "nope"})
    assert third.status_code == 429
    assert "try again in 5 minutes" in third.text
    right = demo.post("/login", data={"name": "ADA", "password": "demo"})
    assert right.status_code == 429  # locked: the right password is not even checked
    other = demo.post("/login", data={"name": "Grace", "password": "demo"})
    assert "Signed in as <strong>Grace</strong>" in other.text


def test_demo_ping_is_rate_limited(demo: TestClient) -> None:
    for _ in range(5):
        assert demo.get("/ping").status_code == 200
    refused = demo.get("/ping")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


async def test_fastapi_example_search_is_limited_per_user_and_per_ip(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_DB_URL", db_url)
    monkeypatch.setenv("SESSION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SESSION_SECRET_KEY", raising=False)
    app = _fresh_import("examples.fastapi_app").app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 1234))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://t") as anon,
            httpx.AsyncClient(transport=transport, base_url="http://t") as alice,
        ):
            await alice.post("/login/alice")
            for _ in range(10):
                assert (await anon.get("/search", params={"q": "x"})).status_code == 200
            assert (await anon.get("/search", params={"q": "x"})).status_code == 429
            assert (await alice.get("/search", params={"q": "x"})).json()["remaining"] == 9


# -- command line ---------------------------------------------------------------------------


@pytest.mark.stores("sqlite", "postgres", "redis")  # the CLI is another process
async def test_cli_limits_show_and_unlock(
    service: DefaultSessionService, cli: Cli, db_url: str
) -> None:
    real = DefaultSessionService(service.get_session_store())  # the wall clock, as the CLI
    await real.limits.hit("api:bob", limit=3, window=60)
    shown = json.loads(
        ok(cli("limits", "show", "api:bob", "--limit", "3", "--window", "60", "--json"))
    )
    assert shown["allowed"] is True and shown["remaining"] == 2 and shown["limit"] == 3
    text = ok(cli("limits", "show", "api:bob", "--limit", "1", "--window", "60"))
    assert text.startswith("api:bob: limited, 0 of 1 left")
    guard = real.login_guard(max_failures=2)
    for _ in range(2):
        await guard.attempt("Bob", "192.0.2.1")
    assert not (await guard.check("bob", "192.0.2.1")).allowed
    assert "unlocked user BOB" in ok(cli("unlock", "--user", "BOB"))
    assert (await guard.check("bob", "192.0.2.1")).allowed
    usage = cli("unlock")
    assert usage.returncode == 2 and "--user, --ip, or both" in usage.stderr
