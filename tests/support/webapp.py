"""A small Starlette app for middleware tests, plus a backend that counts store calls.

The counting backend is a real :class:`SessionStoreBackend` on a real database; it only
records which store operations the middleware asked for, so tests can assert "no database
work" without mocking anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from session_service import DefaultSessionService, SessionSettings, get_session
from session_service.backend import SessionStoreBackend
from session_service.web.middleware import TenantResolver

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"


def settings_for(db_url: str, data_dir: str, **extra: str) -> SessionSettings:
    env = {"SESSION_DB_URL": db_url, "SESSION_DATA_DIR": data_dir, "SESSION_SECRET_KEY": SECRET}
    env.update(extra)
    return SessionSettings.from_env(env)


@asynccontextmanager
async def migrated_service(
    db_url: str, data_dir: str, **env: str
) -> AsyncIterator[DefaultSessionService]:
    """A service on ``db_url`` with its schema in place, closed on the way out."""
    service = DefaultSessionService(db_url, settings_for(db_url, data_dir, **env))
    await service.migrate()
    try:
        yield service
    finally:
        await service.close()


#: Every store operation that writes (or deletes): "no write happened" means none of these ran.
WRITE_OPERATIONS = (
    "create",
    "save",
    "update",
    "patch",
    "touch",
    "seen",
    "rotate",
    "delete",
    "clear_sessions_for_user",
    "revoke_user_session",
    "clear_all_sessions",
    "delete_expired",
    "delete_expired_if_leader",
)


class CountingBackend(SessionStoreBackend):
    """A real backend that counts every store operation asked of it.

    ``SessionStoreBackend`` offers each protocol method of its store through ``_expose``; this
    one offers a counting wrapper of the store's method instead, so every protocol method is
    counted, including any added later, with no per-method code to forget.
    """

    def __init__(self, inner: SessionStoreBackend) -> None:
        super().__init__(inner.store)
        self.calls: Counter[str] = Counter()

    def _expose(self, name: str, method: Any) -> Any:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await method(*args, **kwargs)

        return counted

    @property
    def writes(self) -> int:
        return sum(self.calls[k] for k in WRITE_OPERATIONS)


async def read(request: Request) -> Response:
    return JSONResponse({"data": dict(request.session), "id": get_session(request).id})


async def noop(request: Request) -> Response:
    return PlainTextResponse("ok")


async def set_values(request: Request) -> Response:
    for key, value in request.query_params.items():
        request.session[key] = value
    return PlainTextResponse("set")


async def set_json(request: Request) -> Response:
    body: dict[str, Any] = await request.json()
    request.session.update(body)
    return PlainTextResponse("set")


async def login(request: Request) -> Response:
    request.session["user_id"] = request.query_params["user"]
    get_session(request).cycle_id()
    return PlainTextResponse("logged in")


async def logout(request: Request) -> Response:
    get_session(request).flush()
    return PlainTextResponse("logged out")


async def clear(request: Request) -> Response:
    request.session.clear()
    return PlainTextResponse("cleared")


async def fail(request: Request) -> Response:
    request.session["during_failure"] = "yes"
    return PlainTextResponse("boom", status_code=500)


async def raise_after_write(request: Request) -> Response:
    """The handler changes the session, then fails with an exception (not a 500 response)."""
    request.session["during_failure"] = "yes"
    raise RuntimeError("handler failed after writing the session")


async def not_json(request: Request) -> Response:
    request.session["ok"] = 1
    request.session["when"] = {1, 2, 3}
    return PlainTextResponse("set")


async def revoke_then_write(request: Request) -> Response:
    """Another actor signs the user out while this request still holds the session."""
    service: DefaultSessionService = request.app.state.other_service
    await service.clear_sessions_for_user(request.session["user_id"])
    request.session["late_write"] = "should not resurrect"
    return PlainTextResponse("written")


async def ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user": websocket.session.get("user_id")})
    try:
        websocket.session["x"] = 1
        await websocket.send_json({"write": "allowed"})
    except TypeError:
        await websocket.send_json({"write": "refused"})
    await websocket.close()


def build_app(
    service: DefaultSessionService, tenant_resolver: TenantResolver | None = None
) -> Starlette:
    routes = [
        Route("/read", read),
        Route("/noop", noop),
        Route("/set", set_values, methods=["POST"]),
        Route("/set-json", set_json, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/clear", clear, methods=["POST"]),
        Route("/fail", fail, methods=["POST"]),
        Route("/raise", raise_after_write, methods=["POST"]),
        Route("/not-json", not_json, methods=["POST"]),
        Route("/revoke-then-write", revoke_then_write, methods=["POST"]),
        WebSocketRoute("/ws", ws_endpoint),
    ]
    return Starlette(routes=routes, middleware=[service.session_layer(tenant_resolver)])
