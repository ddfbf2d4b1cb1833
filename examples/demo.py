"""The demo app that ``make run`` serves: sign in, "your devices", sign out other devices.

Sign-in goes through the login guard (three wrong passwords lock the name on this address for
five minutes; the password ``demo`` is accepted for every name), and ``/ping`` is a
rate-limited route (5 per 10 seconds per visitor: the 6th gets a 429 from the middleware).

Runs on the embedded default (a SQLite file in ``./.session-data``) with no configuration:

    make run            # or: uvicorn examples.demo:app --host 127.0.0.1 --port 8000

Device tracking is on here (``SESSION_TRACK_DEVICES=true`` unless set otherwise), and a
sign-in lasts at most 90 days (``SESSION_ABSOLUTE_TTL_SECONDS``). "Remember me" keeps a
session for 30 days without use; unchecked, its cookie ends with the browser and the session
after two idle hours. Set
``SESSION_DB_URL=postgresql://…`` to run it on PostgreSQL instead. The pages live in
``examples/demo_pages.py`` and ``examples/demo.css``. ``/metrics`` shows the sessions'
metrics in Prometheus text (``examples/demo_metrics.py``).
"""

from __future__ import annotations

import math
import os
import secrets
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, get_session

from . import demo_pages as pages
from .demo_metrics import metrics_page  # first: it sets the meter provider the service uses

#: The demo accepts this password for every name (and says so on the sign-in page).
DEMO_PASSWORD = "demo"

#: "Remember me": 30 days without use; otherwise a browser-session cookie and two idle hours.
REMEMBER_SECONDS, SHORT_SECONDS = 30 * 24 * 3600, 2 * 3600
#: However active, a sign-in lasts at most this long (``SESSION_ABSOLUTE_TTL_SECONDS``).
ABSOLUTE_SECONDS = 90 * 24 * 3600

service = DefaultSessionService.from_env(
    {
        "SESSION_TRACK_DEVICES": "true",
        "SESSION_ABSOLUTE_TTL_SECONDS": str(ABSOLUTE_SECONDS),
        **os.environ,
    },
    auto_migrate=True,
)
guard = service.login_guard(max_failures=3, window=600, lockout=300)


def _user(request: Request) -> str | None:
    user = get_session(request).get("user_id")
    return None if user is None else str(user)


MAX_NAME = 100


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a user id, or ``None``. Checked on the server: the form's
    ``maxlength`` is only a hint that any client can ignore."""
    if not name:
        return "A name is required."
    if len(name) > MAX_NAME:
        return f"A name has at most {MAX_NAME} characters."
    if not name.isprintable():
        return "A name cannot contain control characters."
    return None


async def home(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return pages.sign_in()
    session = get_session(request)
    session["visits"] = int(session.get("visits", 0)) + 1
    return pages.account(user, session["visits"])


async def login(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("name", "")).strip()
    problem = name_problem(name)
    if problem is not None:
        return pages.sign_in(problem, 400, name[:MAX_NAME])
    password = str(form.get("password", ""))
    ip = request.client.host if request.client else "unknown"
    decision = await guard.attempt(name, ip)  # booked before the password is looked at
    if decision.reason == "unavailable":  # the store is down: not a lock, say so
        return pages.sign_in(
            "Sign-in is unavailable right now: please try again in a moment.", 503, name
        )
    if decision.allowed and secrets.compare_digest(password.encode(), DEMO_PASSWORD.encode()):
        await guard.succeeded(name, ip)
    else:
        if decision.allowed:  # a wrong password: was it the last one allowed?
            decision = await guard.check(name, ip)
        if decision.reason == "locked":
            minutes = max(1, math.ceil(decision.retry_after / 60))
            return pages.sign_in(
                "Too many failed sign-ins for this name from your address: "
                f"try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                429,
                name,
            )
        return pages.sign_in("Wrong password. (The password is “demo”.)", 401, name)
    session = get_session(request)
    session["user_id"] = name
    session["signed_in_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    remember = form.get("remember") == "1"
    session.set_expiry(REMEMBER_SECONDS if remember else SHORT_SECONDS)
    session.persistent = remember  # unchecked: the cookie ends with the browser
    session.cycle_id()  # login: new id, the pre-login one dies
    return RedirectResponse("/", status_code=303)


async def ping(request: Request) -> Response:
    """A rate-limited route: per user when signed in, else per address."""
    user = _user(request)
    who = (
        f"user:{user}"
        if user is not None
        else f"ip:{request.client.host if request.client else ''}"
    )
    result = await service.limits.enforce(f"demo-ping:{who}", limit=5, window=10)
    return PlainTextResponse(f"pong ({result.remaining} left in this window)\n")


async def logout(request: Request) -> Response:
    get_session(request).flush()
    return RedirectResponse("/", status_code=303)


async def my_devices(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return RedirectResponse("/", status_code=303)
    infos = await service.list_user_sessions(user, current=get_session(request))
    count = request.query_params.get("signed_out", "")
    notice = None
    if count.isdigit():
        notice = f"Signed out {count} device{'s' if count != '1' else ''}."
    return pages.devices(user, infos, datetime.now(UTC), notice)


async def revoke_one(request: Request) -> Response:
    user = _user(request)
    handle = str((await request.form()).get("handle", ""))
    done = user is not None and await service.revoke_user_session(user, handle)
    return RedirectResponse(f"/sessions?signed_out={int(done)}", status_code=303)


async def revoke_others(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return RedirectResponse("/", status_code=303)
    n = await service.clear_sessions_for_user(user, keep=get_session(request))
    return RedirectResponse(f"/sessions?signed_out={n}", status_code=303)


async def revoke_all(request: Request) -> Response:
    # This user's sessions in this request's tenant, never a same-named user of another tenant.
    await service.sign_out_everywhere(request)
    return RedirectResponse("/", status_code=303)


async def stylesheet(request: Request) -> Response:
    return Response(pages.CSS, media_type="text/css", headers={"cache-control": "max-age=300"})


routes = [
    Route("/", home),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/ping", ping),
    Route("/sessions", my_devices),
    Route("/sessions/revoke", revoke_one, methods=["POST"]),
    Route("/sessions/revoke-others", revoke_others, methods=["POST"]),
    Route("/sessions/revoke-all", revoke_all, methods=["POST"]),
    Route("/demo.css", stylesheet),
    Route("/metrics", metrics_page),
]

app = Starlette(routes=routes, middleware=[service.session_layer()], lifespan=service.lifespan)
