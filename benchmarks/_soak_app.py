"""The app the soak test runs under uvicorn (``benchmarks._soak_app:app``), one per process.

A demo-like app: log in, increment a counter in the session, read it, log out. Configured by
the environment exactly as a real deployment (``SESSION_DB_URL``, ``SESSION_SECRET_KEY``, ...),
so two processes with the same environment are two instances of one app.

``POST /login?user=U``  binds the session to ``U`` with ``n = 0`` and rotates its id
``POST /incr``          ``n += 1`` for a signed-in session (answers the new ``n``), 401 otherwise
``GET  /me``            the session as JSON
``POST /logout``        flushes the session
``GET  /health``        touches no session (readiness probe)
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, get_session


async def login(request: Request) -> Response:
    session = get_session(request)
    session["user_id"] = request.query_params["user"]
    session["n"] = 0
    session.cycle_id()
    return PlainTextResponse("logged in")


async def incr(request: Request) -> Response:
    session = request.session
    if "user_id" not in session:
        return PlainTextResponse("not signed in", status_code=401)
    session["n"] = int(session["n"]) + 1
    return PlainTextResponse(str(session["n"]))


async def me(request: Request) -> Response:
    return JSONResponse(dict(request.session))


async def logout(request: Request) -> Response:
    get_session(request).flush()
    return PlainTextResponse("logged out")


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


def build(service: DefaultSessionService) -> Starlette:
    routes = [
        Route("/login", login, methods=["POST"]),
        Route("/incr", incr, methods=["POST"]),
        Route("/me", me),
        Route("/logout", logout, methods=["POST"]),
        Route("/health", health),
    ]
    return Starlette(routes=routes, middleware=[service.session_layer()], lifespan=service.lifespan)


service = DefaultSessionService.from_env()
app = build(service)
