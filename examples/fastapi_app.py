"""The same library under FastAPI: ``add_middleware`` and a lifespan.

    make run-fastapi    # http://127.0.0.1:8001, its own SQLite in ./.session-data-fastapi
    make run-fastapi PORT=9000

(or: ``SESSION_DATA_DIR=.session-data-fastapi .venv/bin/uvicorn examples.fastapi_app:app
--port 8001``; a data directory of its own, so its "sign out everywhere" never touches the
demo's sessions.)
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from session_service import DefaultSessionService, SessionMiddleware, get_session

# The README's FastAPI snippet, as it is written there: the service's own lifespan migrates
# (auto_migrate=True), starts the expired-session cleanup and closes connections at exit.
service = DefaultSessionService.from_env(auto_migrate=True)
app = FastAPI(lifespan=service.lifespan)
app.add_middleware(SessionMiddleware, service=service)


@app.post("/login/{user}")
async def login(user: str, request: Request) -> dict[str, str]:
    session = get_session(request)
    session["user_id"] = user
    session.cycle_id()
    return {"signed_in": user}


@app.get("/me")
async def me(request: Request) -> dict[str, object]:
    return {"session": dict(request.session)}


@app.post("/logout")
async def logout(request: Request) -> dict[str, bool]:
    get_session(request).flush()
    return {"signed_out": True}


@app.post("/sign-out-everywhere")
async def sign_out_everywhere(request: Request) -> dict[str, int]:
    # The request's user in the request's tenant (0 when not signed in).
    return {"cleared": await service.sign_out_everywhere(request)}


@app.get("/search")
async def search(q: str, request: Request) -> dict[str, object]:
    """A rate-limited route: 10 searches a minute per user, or per address when signed out.

    Over the limit, ``enforce`` raises ``RateLimitExceeded`` and the session middleware answers
    429 with ``Retry-After`` and the ``RateLimit-*`` headers.
    """
    user = request.session.get("user_id")
    host = request.client.host if request.client else "unknown"
    who = f"user:{user}" if user is not None else f"ip:{host}"
    result = await service.limits.enforce(f"search:{who}", limit=10, window=60)
    return {"q": q, "remaining": result.remaining}
