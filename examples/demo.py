"""The demo app that ``make run`` serves: login, your session, your sessions, sign out everywhere.

Sign-in goes through the login guard (three wrong passwords lock the name on this address for
five minutes; the password ``demo`` is accepted for every name), and ``/ping`` is a
rate-limited route (5 per 10 seconds per visitor: the 6th gets a 429 from the middleware).

Runs on the embedded default (a SQLite file in ``./.session-data``) with no configuration:

    make run            # or: uvicorn examples.demo:app --host 127.0.0.1 --port 8000

Set ``SESSION_DB_URL=postgresql://…`` to run it on PostgreSQL instead.
"""

from __future__ import annotations

import hashlib
import html
import math
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, get_session

service = DefaultSessionService.from_env(auto_migrate=True)
guard = service.login_guard(max_failures=3, window=600, lockout=300)
DEMO_PASSWORD = "demo"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>session-service demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}
td,th{{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}}
form{{display:inline}}code{{background:#f4f4f4;padding:0 .2rem}}</style></head>
<body><h1><a href="/">session-service demo</a></h1>{body}</body></html>"""


def page(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(body=body), status_code=status_code)


def handle(session_id: str) -> str:
    """A public handle for a session: the raw id never appears in a page."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


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


def sign_in_page(error: str | None = None, status_code: int = 400) -> HTMLResponse:
    shown = "" if error is None else f'<p role="alert"><strong>{html.escape(error)}</strong></p>'
    return page(
        f"<p>You are not signed in.</p>{shown}"
        '<form method="post" action="/login"><label>Name '
        f'<input name="name" required maxlength="{MAX_NAME}" autofocus></label> '
        '<label>Password <input name="password" type="password" required></label> '
        "<button>Sign in</button></form>"
        f"<p>Any name works with the password <code>{DEMO_PASSWORD}</code>; three wrong "
        "passwords lock that name on your address for five minutes. "
        '<a href="/ping">/ping</a> allows 5 requests per 10 seconds.</p>',
        status_code=200 if error is None else status_code,
    )


async def home(request: Request) -> Response:
    session = get_session(request)
    user = session.get("user_id")
    if user is None:
        return sign_in_page()
    session["visits"] = int(session.get("visits", 0)) + 1
    rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(repr(v))}</td></tr>"
        for k, v in sorted(session.items())
    )
    return page(
        f"<p>Signed in as <strong>{html.escape(str(user))}</strong>.</p>"
        f"<h2>This session</h2><table>{rows}</table>"
        '<p><a href="/sessions">My sessions</a> · '
        '<form method="post" action="/logout"><button>Sign out</button></form></p>'
    )


async def login(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("name", "")).strip()
    problem = name_problem(name)
    if problem is not None:
        return sign_in_page(problem)
    ip = request.client.host if request.client else "unknown"
    decision = await guard.attempt(name, ip)  # booked before the password is looked at
    if decision.allowed and form.get("password") == DEMO_PASSWORD:
        await guard.succeeded(name, ip)
    else:
        if decision.allowed:  # a wrong password: was it the last one allowed?
            decision = await guard.check(name, ip)
        if not decision.allowed:
            minutes = max(1, math.ceil(decision.retry_after / 60))
            return sign_in_page(
                "Too many failed sign-ins for this name from your address: "
                f"try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                status_code=429,
            )
        return sign_in_page("Wrong password.", status_code=401)
    session = get_session(request)
    session["user_id"] = name
    session["signed_in_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    session.cycle_id()  # login: new id, the pre-login one dies
    return RedirectResponse("/", status_code=303)


async def ping(request: Request) -> Response:
    """A rate-limited route: per user when signed in, else per address."""
    user = get_session(request).get("user_id")
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


async def my_sessions(request: Request) -> Response:
    session = get_session(request)
    user = session.get("user_id")
    if user is None:
        return RedirectResponse("/", status_code=303)
    records = await service.get_session_store().list_sessions_for_user(user)
    rows = []
    for record in records:
        mine = " (this one)" if record.id == session.id else ""
        created = record.created_at.isoformat(timespec="seconds") if record.created_at else "?"
        rows.append(
            f"<tr><td><code>{handle(record.id)}</code>{mine}</td><td>{created}</td>"
            f"<td>{record.expiry_date.isoformat(timespec='seconds')}</td><td>"
            f'<form method="post" action="/sessions/revoke">'
            f'<input type="hidden" name="handle" value="{handle(record.id)}">'
            "<button>Sign out this one</button></form></td></tr>"
        )
    return page(
        f"<h2>Sessions of {html.escape(str(user))}: {len(records)}</h2>"
        "<table><tr><th>session</th><th>created</th><th>expires</th><th></th></tr>"
        f"{''.join(rows)}</table>"
        '<p><form method="post" action="/sessions/revoke-all">'
        "<button>Sign out everywhere</button></form> · <a href='/'>Back</a></p>"
    )


async def revoke_one(request: Request) -> Response:
    session = get_session(request)
    user = session.get("user_id")
    wanted = str((await request.form()).get("handle", ""))
    if user is not None:
        store = service.get_session_store()
        for session_id in await store.get_session_ids_for_user(user):
            if handle(session_id) == wanted:
                await store.delete(session_id)
    return RedirectResponse("/sessions", status_code=303)


async def revoke_all(request: Request) -> Response:
    # This user's sessions in this request's tenant, never a same-named user of another tenant.
    await service.sign_out_everywhere(request)
    return RedirectResponse("/", status_code=303)


routes = [
    Route("/", home),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/ping", ping),
    Route("/sessions", my_sessions),
    Route("/sessions/revoke", revoke_one, methods=["POST"]),
    Route("/sessions/revoke-all", revoke_all, methods=["POST"]),
]

app = Starlette(routes=routes, middleware=[service.session_layer()], lifespan=service.lifespan)
