"""The ``session_service.*`` counters and ``db.client.operation.duration``
(docs/operations.md, "Metrics"), on every store kind, read through the OpenTelemetry SDK's
in-memory reader after real requests through the middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, SessionStoreBackend, get_session
from session_service.errors import SessionStoreUnavailable
from session_service.stores.base import SessionStoreBase

from ..support.webapp import build_app
from ._reader import durations, metered_service, points, value

Metered = tuple[DefaultSessionService, httpx.AsyncClient, InMemoryMetricReader]
SYSTEMS = {
    "sqlite": "sqlite",
    "postgres": "postgresql",
    "redis": "redis",
    "memory": "memory",
    "redis_cluster": "redis",
}


def _app(service: DefaultSessionService) -> Starlette:
    async def limited(request: Request) -> Response:
        await service.limits.enforce("route:limited", limit=1, window=60)
        return PlainTextResponse("ok")

    async def sign_in(request: Request) -> Response:
        decision = await service.login_guard(max_failures=1).attempt("alice", "192.0.2.1")
        return PlainTextResponse("ok" if decision.allowed else "refused")

    async def set_user(request: Request) -> Response:
        request.session["user_id"] = "u1"
        get_session(request).cycle_id()
        return PlainTextResponse("in")

    app = build_app(service)
    app.router.routes.extend(
        [
            Route("/limited", limited),
            Route("/sign-in", sign_in, methods=["POST"]),
            Route("/set-user", set_user, methods=["POST"]),
        ]
    )
    return app


@pytest.fixture
async def metered(
    backend: SessionStoreBackend, db_url: str, tmp_path: Path
) -> AsyncIterator[Metered]:
    service, reader = metered_service(backend, db_url, tmp_path)
    transport = httpx.ASGITransport(app=_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield service, client, reader


async def test_each_session_event_is_counted_once(metered: Metered, store_kind: str) -> None:
    _, client, reader = metered
    system = SYSTEMS[store_kind]
    assert (await client.post("/set?a=1")).status_code == 200  # created
    assert (await client.get("/read")).status_code == 200  # hit
    assert (await client.post("/set?b=2")).status_code == 200  # hit, saved (a patch)
    assert (await client.post("/set-user")).status_code == 200  # hit, rotated
    cookie = client.cookies["session_id"]
    tampered = {"cookie": f"session_id={cookie[:-3]}AAA"}
    client.cookies.clear()
    assert (await client.get("/read", headers=tampered)).status_code == 200  # invalid
    signed = {"cookie": f"session_id={cookie}"}
    assert (await client.post("/logout", headers=signed)).status_code == 200  # hit, revoked
    assert (await client.get("/read", headers=signed)).status_code == 200  # miss: signed out

    found = points(reader)
    on = {"db.system.name": system}
    assert value(found, "session_service.sessions.created", **on) == 1
    assert value(found, "session_service.sessions.saved", **on) == 1
    assert value(found, "session_service.sessions.rotated", **on) == 1
    assert value(found, "session_service.sessions.revoked", **on) == 1
    loaded = "session_service.sessions.loaded"
    assert value(found, loaded, result="hit", **on) == 4
    assert value(found, loaded, result="invalid", **on) == 1
    assert value(found, loaded, result="miss", **on) == 1
    assert value(found, loaded, result="expired", **on) == 0
    # Every store call was timed (SESSION_METRICS_SAMPLE=1), under its operation's name.
    for operation, calls in {"create": 1, "load": 5, "patch": 1, "rotate": 1, "delete": 1}.items():
        (point,) = durations(found, operation)
        assert point.count == calls, operation
        assert point.attributes == {"db.system.name": system, "db.operation.name": operation}
        assert point.explicit_bounds[0] < 8e-6 and point.sum > 0


async def test_a_load_past_the_absolute_deadline_is_expired(
    metered: Metered, store_kind: str
) -> None:
    service, client, reader = metered
    await client.post("/set?a=1")
    store = service.get_session_store().store
    assert isinstance(store, SessionStoreBase)
    store.absolute_ttl = timedelta(0)  # every session's deadline is now past
    await client.get("/read")
    found = points(reader)
    assert value(found, "session_service.sessions.loaded", result="expired") == 1
    assert value(found, "session_service.sessions.loaded", result="hit") == 0


async def test_revocations_and_cleanup_count_the_sessions_they_end(
    metered: Metered, store_kind: str
) -> None:
    service, client, reader = metered
    await client.post("/set-user")  # created (no cookie yet: a new session, not a rotation)
    backend = service.get_session_store()
    (info,) = await service.list_user_sessions("u1")
    assert await service.revoke_user_session("u1", info.handle)
    for _ in range(2):
        client.cookies.clear()
        await client.post("/set-user")
    assert await service.clear_sessions_for_user("u1") == 2
    await client.post("/set?a=1")
    assert await service.clear_all_sessions() == 1
    assert await backend.delete_expired() == 0
    found = points(reader)
    assert value(found, "session_service.sessions.created") == 4
    assert value(found, "session_service.sessions.revoked") == 4
    assert value(found, "session_service.sessions.cleaned") == 0


async def test_503_429_and_guard_refusals_are_counted(metered: Metered, store_kind: str) -> None:
    service, client, reader = metered
    assert (await client.get("/limited")).status_code == 200
    assert (await client.get("/limited")).status_code == 429
    assert (await client.post("/sign-in")).text == "ok"
    assert (await client.post("/sign-in")).text == "refused"
    await client.post("/set?a=1")
    store = service.get_session_store().store
    assert isinstance(store, SessionStoreBase)

    async def down(session_id: str, key: str) -> None:
        raise SessionStoreUnavailable("down (planted)")

    store._load_id = down  # type: ignore[method-assign]  # every load's hook
    assert (await client.get("/read")).status_code == 503
    found = points(reader)
    assert value(found, "session_service.rate_limited") == 1
    assert value(found, "session_service.login_guard.refused") == 1
    assert value(found, "session_service.store_unavailable") == 1
    (failed,) = [p for p in durations(found, "load") if "error.type" in (p.attributes or {})]
    assert (failed.attributes or {})["error.type"] == "SessionStoreUnavailable"
    assert failed.count == 1
