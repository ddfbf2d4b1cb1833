"""Revocation races: a session revoked while its own requests are in flight stays revoked.

Each iteration logs a user in, then runs a request of that session (a write, or a login-style
``cycle_id``) concurrently with a revocation from elsewhere: ``clear_sessions_for_user`` from
another app instance, or a logout from another device holding the same cookie. Whatever the
interleaving, afterwards the user has no live session and the next request of the client
sees an empty session (``docs/sessions.md``). Both backends, hundreds of times over.

The random interleavings above hit a given window only by chance, so two windows are also
forced, deterministically, on every store:

* between the middleware's load and its save: the handler waits on an event after reading the
  session while the revocation runs to completion (a middleware that re-saves a session it
  loaded, instead of updating a row that must still exist, fails every time);
* inside the save itself, between any check the store makes and its write: the revocation is
  left *in flight* (its ``DELETE`` done, its transaction holding the row/write lock) until the
  request's write statement is waiting on that lock, and only then commits. A check-then-act
  ``update()`` (look the row up, then upsert it) sees the row and re-inserts it, every time.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, get_session
from session_service.backend import SessionStoreBackend

from ..support.webapp import migrated_service

ITERATIONS = 300
#: The by-id revocations share the update path already raced above; fewer rounds suffice.
BY_ID_ITERATIONS = 150
USER = "racer"


async def _login(request: Request) -> Response:
    request.session["user_id"] = USER
    request.session["n"] = 0
    get_session(request).cycle_id()
    return PlainTextResponse("in")


async def _bump(request: Request) -> Response:
    """A signed-in write: an anonymous session is left alone, so it stays empty."""
    session = request.session
    if "user_id" in session:
        session["n"] = int(session["n"]) + 1
    return PlainTextResponse("bumped")


async def _recycle(request: Request) -> Response:
    """A privilege change of a signed-in session: its id rotates."""
    session = get_session(request)
    if "user_id" in session:
        session["n"] = int(session["n"]) + 1
        session.cycle_id()
    return PlainTextResponse("recycled")


async def _logout(request: Request) -> Response:
    get_session(request).flush()
    return PlainTextResponse("out")


async def _whoami(request: Request) -> Response:
    return JSONResponse(dict(request.session))


@dataclass
class _Gate:
    """The pause point of the ``/paused/...`` routes: between reading and writing the session."""

    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    resumed: asyncio.Event = field(default_factory=asyncio.Event)


async def _paused(request: Request) -> Response:
    """Read the session, wait at the gate, then do what ``/bump`` or ``/recycle`` does."""
    gate: _Gate = request.app.state.gate
    assert request.session.get("user_id") == USER, "the session was not loaded"
    gate.loaded.set()
    await gate.resume.wait()
    gate.resumed.set()
    handler = _recycle if request.path_params["what"] == "recycle" else _bump
    return await handler(request)


def _app(service: DefaultSessionService) -> Starlette:
    routes = [
        Route("/login", _login, methods=["POST"]),
        Route("/bump", _bump, methods=["POST"]),
        Route("/recycle", _recycle, methods=["POST"]),
        Route("/paused/{what}", _paused, methods=["POST"]),
        Route("/logout", _logout, methods=["POST"]),
        Route("/whoami", _whoami),
    ]
    app = Starlette(routes=routes, middleware=[service.session_layer()])
    app.state.gate = _Gate()
    return app


@pytest.fixture
async def service(db_url: str, tmp_path: Path) -> AsyncIterator[DefaultSessionService]:
    async with migrated_service(db_url, str(tmp_path)) as svc:
        yield svc


@pytest.fixture
async def other_instance(db_url: str) -> AsyncIterator[SessionStoreBackend]:
    """A second instance on the same database, with its own connections (the admin side)."""
    backend = SessionStoreBackend.from_url(db_url)
    try:
        yield backend
    finally:
        await backend.close()


def _client(service: DefaultSessionService) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(service))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _gate(client: httpx.AsyncClient) -> _Gate:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: Starlette = transport.app  # type: ignore[assignment]
    app.state.gate = _Gate()
    gate: _Gate = app.state.gate
    return gate


async def _shifted(awaitable: Awaitable[Any], ticks: int) -> Any:
    """``awaitable``, started ``ticks`` event-loop turns late: varies the interleaving only."""
    for _ in range(ticks):
        await asyncio.sleep(0)
    return await awaitable


async def _race(request: Awaitable[Any], revoke: Awaitable[Any], i: int) -> None:
    """Run both at once, each iteration with a different head start for one side."""
    ticks = i % 7
    if i % 2:
        await asyncio.gather(_shifted(request, ticks), revoke)
    else:
        await asyncio.gather(request, _shifted(revoke, ticks))


async def _assert_revoked(client: httpx.AsyncClient, admin: SessionStoreBackend, i: int) -> None:
    assert await admin.count_sessions_for_user(USER) == 0, f"iteration {i}: a session came back"
    seen = (await client.get("/whoami")).json()
    assert seen == {}, f"iteration {i}: the revoked session still answers with {seen}"


@pytest.mark.parametrize("path", ["/bump", "/recycle"])
async def test_clear_user_during_in_flight_requests_never_brings_a_session_back(
    service: DefaultSessionService, other_instance: SessionStoreBackend, path: str
) -> None:
    async with _client(service) as client:
        for i in range(ITERATIONS):
            client.cookies.clear()
            assert (await client.post("/login")).status_code == 200
            assert await other_instance.count_sessions_for_user(USER) == 1
            request = client.post(path)
            revoke = other_instance.clear_sessions_for_user(USER)
            await _race(request, revoke, i)
            await _assert_revoked(client, other_instance, i)


async def test_logout_elsewhere_during_in_flight_writes_never_brings_the_session_back(
    service: DefaultSessionService, other_instance: SessionStoreBackend
) -> None:
    async with _client(service) as laptop, _client(service) as phone:
        for i in range(BY_ID_ITERATIONS):
            laptop.cookies.clear()
            phone.cookies.clear()
            await laptop.post("/login")
            # The same session on a second device (its cookie copied over) logs out.
            phone.cookies.update(laptop.cookies)
            await _race(laptop.post("/bump"), phone.post("/logout"), i)
            await _assert_revoked(laptop, other_instance, i)
            assert (await phone.get("/whoami")).json() == {}


async def test_sign_out_this_session_elsewhere_during_in_flight_writes_is_final(
    service: DefaultSessionService, other_instance: SessionStoreBackend
) -> None:
    """The demo's "sign out this one": another instance deletes the session by its id."""
    async with _client(service) as client:
        for i in range(BY_ID_ITERATIONS):
            client.cookies.clear()
            await client.post("/login")
            (handle,) = await other_instance.get_session_ids_for_user(USER)  # ids are not listed
            await _race(client.post("/bump"), other_instance.revoke_user_session(USER, handle), i)
            await _assert_revoked(client, other_instance, i)


# -- deterministic: the revocation lands exactly between load and save -----------------------


def _kept_nothing(response: httpx.Response) -> bool:
    """The save found its row gone: it hands out no session cookie (and, since a concurrent
    login may have just set this browser's cookie, expires none either; the next request with
    the dead cookie does that)."""
    return "set-cookie" not in response.headers


@pytest.mark.parametrize("what", ["bump", "recycle"])
@pytest.mark.parametrize("revocation", ["clear user", "delete by id", "logout elsewhere"])
async def test_revocation_between_load_and_save_is_final(
    service: DefaultSessionService,
    other_instance: SessionStoreBackend,
    what: str,
    revocation: str,
) -> None:
    async with _client(service) as laptop, _client(service) as phone:
        assert (await laptop.post("/login")).status_code == 200
        phone.cookies.update(laptop.cookies)
        (handle,) = await other_instance.get_session_ids_for_user(USER)  # ids are not listed
        gate = _gate(laptop)
        request = asyncio.create_task(laptop.post(f"/paused/{what}"))
        await gate.loaded.wait()
        if revocation == "clear user":
            assert await other_instance.clear_sessions_for_user(USER) == 1
        elif revocation == "delete by id":
            assert await other_instance.revoke_user_session(USER, handle)
        else:
            assert (await phone.post("/logout")).status_code == 200
        gate.resume.set()
        response = await request
        assert response.status_code == 200
        assert _kept_nothing(response), "the revoked session's save answered with a cookie"
        await _assert_revoked(laptop, other_instance, 0)


# -- deterministic: the revocation commits while the request's write waits on it -------------


class _InFlightRevocation:
    """A ``DELETE`` of the user's sessions in an open transaction on the database itself (it
    holds the row lock on PostgreSQL, the write lock on SQLite), committed on demand."""

    def __init__(self, db_url: str) -> None:
        self.url = make_url(db_url)
        self.sqlite: sqlite3.Connection | None = None
        self.pg: Any = None
        self.watch: Any = None

    async def start(self, where: str, value: str) -> None:
        sql = f"DELETE FROM sessions WHERE {where} = "
        if self.url.get_backend_name() == "sqlite":
            assert self.url.database
            self.sqlite = sqlite3.connect(self.url.database, isolation_level=None)
            self.sqlite.execute("BEGIN IMMEDIATE")
            assert self.sqlite.execute(sql + "?", (value,)).rowcount == 1
            return
        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.pg, self.watch = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        await self.pg.execute("BEGIN")
        assert await self.pg.execute(sql + "$1", value) == "DELETE 1"

    async def wait_until_a_write_waits(self, request: asyncio.Task[Any]) -> None:
        """Return once the request's write statement is blocked on this transaction's lock.

        PostgreSQL says so itself (``pg_blocking_pids``). SQLite cannot tell; there the request
        task is observed instead: having left the handler, it is waiting on a pending future,
        which only a write waiting for the lock (off the event loop) does. This is a condition
        polled with a generous give-up limit, not a timing assumption.
        """
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert not request.done(), "the request finished while the revocation held its lock"
            if self.pg is not None:
                blocked = await self.watch.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                    self.pg.get_server_pid(),
                )
                if blocked:
                    return
            elif _awaits_a_pending_future(request):
                return
            await asyncio.sleep(0.001)
        raise AssertionError("the request's write never waited on the in-flight revocation")

    async def commit(self) -> None:
        if self.sqlite is not None:
            self.sqlite.execute("COMMIT")
        else:
            await self.pg.execute("COMMIT")

    async def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        for conn in (self.pg, self.watch):
            if conn is not None:
                await conn.close()


def _awaits_a_pending_future(task: asyncio.Task[Any]) -> bool:
    """Whether the innermost thing ``task`` awaits is a future (not a bare event-loop yield)."""
    awaited: Any = task.get_coro()
    while True:
        if type(awaited).__name__ == "async_generator_asend":  # ``async with`` a generator
            (awaited,) = (r for r in gc.get_referents(awaited) if inspect.isasyncgen(r))
        inner = next(
            (
                getattr(awaited, a)
                for a in ("cr_await", "gi_yieldfrom", "ag_await")
                if getattr(awaited, a, None) is not None
            ),
            None,
        )
        if inner is None:
            break
        awaited = inner
    # ``await future`` suspends on the future's iterator (``FutureIter`` in CPython's C asyncio).
    return isinstance(awaited, asyncio.Future) or type(awaited).__name__ == "FutureIter"


@pytest.mark.stores("sqlite", "postgres")  # a DELETE held open in a SQL transaction
@pytest.mark.parametrize("what", ["bump", "recycle"])
@pytest.mark.parametrize("by", ["user_id", "id"])
async def test_revocation_committing_while_the_save_waits_is_final(
    service: DefaultSessionService,
    other_instance: SessionStoreBackend,
    db_url: str,
    what: str,
    by: str,
) -> None:
    revocation = _InFlightRevocation(db_url)
    try:
        async with _client(service) as client:
            assert (await client.post("/login")).status_code == 200
            (handle,) = await other_instance.get_session_ids_for_user(USER)  # ids are not listed
            gate = _gate(client)
            request = asyncio.create_task(client.post(f"/paused/{what}"))
            await gate.loaded.wait()
            await revocation.start(
                by if by == "user_id" else "handle", USER if by == "user_id" else handle
            )
            gate.resume.set()
            await gate.resumed.wait()
            await revocation.wait_until_a_write_waits(request)
            await revocation.commit()
            response = await request
            assert response.status_code == 200
            assert _kept_nothing(response), "the save claimed a row the revocation had deleted"
            await _assert_revoked(client, other_instance, 0)
    finally:
        await revocation.close()
