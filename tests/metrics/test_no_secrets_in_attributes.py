"""No session id, cookie, handle, user, tenant, ip or limit key ever appears in a metric
attribute (docs/operations.md, "Metrics"): real traffic through the middleware with known
values, then every attribute of every collected point is scanned."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from session_service import SessionStoreBackend, get_session
from session_service.errors import SessionStoreUnavailable
from session_service.stores.base import SessionStoreBase

from ._reader import all_attributes, metered_service, points

USER, TENANT, IP = "user-7731-secret", "tenant-4242-secret", "203.0.113.77"
LIMIT_KEY, GUARD_USER = "limit-key-9911-secret", "guard-user-5150-secret"
ALLOWED_KEYS = {"db.system.name", "db.operation.name", "error.type", "result"}


async def test_no_identifier_reaches_an_attribute(
    backend: SessionStoreBackend, db_url: str, tmp_path: Path, store_kind: str
) -> None:
    service, reader = metered_service(
        backend, db_url, tmp_path, SESSION_TRACK_DEVICES="true", SESSION_TRUSTED_PROXIES="0.0.0.0/0"
    )

    async def login(request: Request) -> Response:
        request.session["user_id"] = USER
        get_session(request).cycle_id()
        return PlainTextResponse("in")

    async def write(request: Request) -> Response:
        request.session["note"] = "x"
        await service.limits.hit(LIMIT_KEY, limit=1, window=60)
        await service.limits.enforce(LIMIT_KEY, limit=1, window=60)
        return PlainTextResponse("never")

    async def guard(request: Request) -> Response:
        g = service.login_guard(max_failures=1)
        await g.attempt(GUARD_USER, IP)
        await g.attempt(GUARD_USER, IP)
        return PlainTextResponse("ok")

    def tenant_of(scope: Scope) -> str:
        return TENANT

    app = Starlette(
        routes=[
            Route("/login", login, methods=["POST"]),
            Route("/write", write, methods=["POST"]),
            Route("/guard", guard, methods=["POST"]),
        ],
        middleware=[service.session_layer(tenant_of)],
    )
    headers = {"x-forwarded-for": IP, "user-agent": "agent-secret-ua"}
    transport = httpx.ASGITransport(app=app, client=(IP, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        await c.post("/login")
        first = c.cookies["session_id"]
        await c.post("/login")  # a rotation
        await c.post("/write")  # a 429
        await c.post("/guard")  # a refusal
        second = c.cookies["session_id"]
        (info,) = await service.list_user_sessions(USER, tenant_id=TENANT)
        store = service.get_session_store().store
        assert isinstance(store, SessionStoreBase)

        async def down(session_id: str, key: str) -> None:
            raise SessionStoreUnavailable(f"down at {session_id} for {USER} (planted)")

        # ``_load_id`` is the hook every load goes through (a cluster id with a slot tag
        # never reaches ``_load``).
        load, store._load_id = store._load_id, down  # type: ignore[method-assign]
        assert (await c.post("/login")).status_code == 503
        store._load_id = load  # type: ignore[method-assign]
        await service.revoke_user_session(USER, info.handle, tenant_id=TENANT)

    secrets = [USER, TENANT, IP, LIMIT_KEY, GUARD_USER, info.handle, "agent-secret-ua"]
    for cookie in (first, second):
        secrets += [cookie, cookie.rpartition(".")[0]]  # the cookie and the id it carries
    found = points(reader)
    assert "session_service.rate_limited" in found and "db.client.operation.duration" in found
    seen = list(all_attributes(found))
    assert seen
    for metric, key, text in seen:
        assert key in ALLOWED_KEYS, (metric, key)
        for secret in secrets:
            assert secret not in text and secret not in key, (metric, key, text)
