"""The handlers of the compatibility suite: the patterns upstream tests and apps use.

Every handler treats ``request.session`` as the plain ``dict`` Starlette documents; the few
that need more (``cycle_id``, ``flush``, ``.id``) go through ``get_session``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from session_service import get_session


async def view_session(request: Request) -> Response:
    return JSONResponse({"session": request.session})


async def view_bare(request: Request) -> Response:
    return JSONResponse(request.session)


async def session_id(request: Request) -> Response:
    return JSONResponse({"id": get_session(request).id, "session": request.session})


async def update_session(request: Request) -> Response:
    request.session.update(await request.json())
    return JSONResponse({"session": request.session})


async def merge_session(request: Request) -> Response:
    # ``request.session |= ...`` would assign to a read-only property (so with Starlette's own
    # session too); the in-place merge on the object itself is the dict operation.
    session = request.session
    session |= await request.json()
    return JSONResponse(session)


async def clear_session(request: Request) -> Response:
    request.session.clear()
    return JSONResponse({"session": request.session})


async def popitem(request: Request) -> Response:
    # Order within a request is a dict's; across requests it is the store's (PostgreSQL's
    # jsonb orders keys its own way), so the newest key is added here.
    request.session["newest"] = "n"
    key, value = request.session.popitem()
    return JSONResponse({"popped": [key, value], "session": request.session})


async def pop_key(request: Request) -> Response:
    value = request.session.pop(request.query_params["key"], None)
    return JSONResponse({"popped": value})


async def setdefault(request: Request) -> Response:
    body: dict[str, Any] = await request.json()
    value = request.session.setdefault(body["key"], body["value"])
    return JSONResponse({"value": value, "session": request.session})


async def copy_session(request: Request) -> Response:
    copied = request.session.copy()
    copied["not-saved"] = True
    return JSONResponse({"type": type(copied).__name__, "copy": copied})


async def nothing(request: Request) -> Response:
    return PlainTextResponse("ok")


async def login(request: Request) -> Response:
    keep = request.query_params.get("keep", "1") == "1"
    get_session(request).cycle_id(keep_data=keep)
    request.session["user_id"] = request.query_params["user"]
    return PlainTextResponse("logged in")


async def logout(request: Request) -> Response:
    get_session(request).flush()
    return PlainTextResponse("logged out")


async def flush_then_write(request: Request) -> Response:
    session = get_session(request)
    session.flush()
    after_flush = session.id
    session["flash"] = "bye"
    return JSONResponse({"id_after_flush": after_flush})


async def fail(request: Request) -> Response:
    request.session["during_failure"] = True
    return PlainTextResponse("boom", status_code=500)


def routes() -> list[BaseRoute]:
    return [
        Route("/view_session", view_session),
        Route("/view_bare", view_bare),
        Route("/id", session_id),
        Route("/update_session", update_session, methods=["POST"]),
        Route("/merge", merge_session, methods=["POST"]),
        Route("/clear_session", clear_session, methods=["POST"]),
        Route("/popitem", popitem, methods=["POST"]),
        Route("/pop", pop_key, methods=["POST"]),
        Route("/setdefault", setdefault, methods=["POST"]),
        Route("/copy", copy_session),
        Route("/nothing", nothing),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/flush_then_write", flush_then_write, methods=["POST"]),
        Route("/fail", fail, methods=["POST"]),
    ]
