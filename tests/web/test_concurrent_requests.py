"""``docs/sessions.md``'s "Concurrent requests of one session", through the middleware on every
store kind: overlapping requests of one session that change different keys both keep their
writes.

Each overlap is forced, not hoped for: every request of a scenario loads the session and then
waits at its own gate (an ``asyncio.Event``) inside the handler, so all of them hold the same
stale copy before any of them writes; the test then releases them in a chosen order. A
middleware that writes the whole session loses every write but the last one's, every time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService
from session_service.backend import SessionStoreBackend

from ..support.webapp import CountingBackend, settings_for

ROUNDS = 200


@dataclass
class _Gate:
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)


async def _gated(request: Request) -> Response:
    """Load the session, wait at the gate named in the path, then set and delete keys."""
    body: dict[str, Any] = await request.json()
    gate: _Gate = request.app.state.gates[request.path_params["name"]]
    assert request.session.get("user_id") == "u", "the session was not loaded"
    gate.loaded.set()
    await gate.go.wait()
    for key in body.get("delete", []):
        del request.session[key]
    request.session.update(body.get("set", {}))
    return PlainTextResponse("ok")


async def _start(request: Request) -> Response:
    request.session.update({"user_id": "u", "a": 1, "b": 2})
    return PlainTextResponse("started")


async def _read(request: Request) -> Response:
    return JSONResponse(dict(request.session))


def _app(service: DefaultSessionService) -> Starlette:
    routes = [
        Route("/start", _start, methods=["POST"]),
        Route("/gated/{name}", _gated, methods=["POST"]),
        Route("/read", _read),
    ]
    app = Starlette(routes=routes, middleware=[service.session_layer()])
    app.state.gates = {}
    return app


async def _service(db_url: str, tmp_path: Path) -> DefaultSessionService:
    service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    await service.migrate()
    return service


@pytest.fixture
async def clients(db_url: str, tmp_path: Path) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two app instances on the same store (their own connections), a client for each; the
    second gets the first's cookie after ``/start``."""
    services = [await _service(db_url, tmp_path) for _ in range(2)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(s)), base_url="http://t")
        for s in services
    ]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()
        for service in services:
            await service.close()


def _gates(client: httpx.AsyncClient) -> dict[str, _Gate]:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    gates: dict[str, _Gate] = transport.app.state.gates  # type: ignore[attr-defined]
    return gates


async def _start_session(clients: list[httpx.AsyncClient]) -> None:
    for client in clients:
        client.cookies.clear()
    assert (await clients[0].post("/start")).status_code == 200
    clients[1].cookies.update(clients[0].cookies)


async def _overlap(
    clients: list[httpx.AsyncClient], *steps: tuple[str, dict[str, Any]]
) -> list[httpx.Response]:
    """Start every step's request (alternating between the two instances), wait until all
    have loaded the session, then release them one at a time in the order given."""
    tasks = []
    for i, (name, body) in enumerate(steps):
        client = clients[i % 2]
        _gates(client)[name] = _Gate()
        tasks.append(asyncio.create_task(client.post(f"/gated/{name}", json=body)))
    for i, (name, _) in enumerate(steps):
        await _gates(clients[i % 2])[name].loaded.wait()
    responses = []
    for i, ((name, _), task) in enumerate(zip(steps, tasks, strict=True)):
        _gates(clients[i % 2])[name].go.set()
        response = await task
        assert response.status_code == 200 and "set-cookie" in response.headers
        responses.append(response)
    return responses


async def _stored(clients: list[httpx.AsyncClient]) -> dict[str, Any]:
    data: dict[str, Any] = (await clients[0].get("/read")).json()
    return data


async def test_three_overlapping_requests_keep_all_three_effects(
    clients: list[httpx.AsyncClient],
) -> None:
    await _start_session(clients)
    await _overlap(
        clients,
        ("cart", {"set": {"cart": [1, 2]}}),
        ("flash", {"set": {"flash": "saved"}}),
        ("drop-a", {"delete": ["a"]}),
    )
    assert await _stored(clients) == {"user_id": "u", "b": 2, "cart": [1, 2], "flash": "saved"}


async def test_a_deleted_key_stays_deleted_unless_the_other_request_wrote_it(
    clients: list[httpx.AsyncClient],
) -> None:
    await _start_session(clients)
    await _overlap(clients, ("drop-a", {"delete": ["a"]}), ("other", {"set": {"c": 3}}))
    assert await _stored(clients) == {"user_id": "u", "b": 2, "c": 3}
    # The other request wrote the deleted key itself, saved after the delete: it stands.
    await _overlap(clients, ("drop-b", {"delete": ["b"]}), ("write-b", {"set": {"b": 5}}))
    assert await _stored(clients) == {"user_id": "u", "b": 5, "c": 3}
    # ...and a delete saved after the other request's write of the same key wins in turn.
    await _overlap(clients, ("write-c", {"set": {"c": 9}}), ("drop-c", {"delete": ["c"]}))
    assert await _stored(clients) == {"user_id": "u", "b": 5}


async def test_for_one_key_the_later_save_wins(clients: list[httpx.AsyncClient]) -> None:
    await _start_session(clients)
    await _overlap(clients, ("first", {"set": {"n": 1}}), ("second", {"set": {"n": 2}}))
    assert (await _stored(clients))["n"] == 2
    await _overlap(clients, ("third", {"set": {"n": 3, "m": 1}}), ("fourth", {"set": {"n": 4}}))
    assert await _stored(clients) == {"user_id": "u", "a": 1, "b": 2, "n": 4, "m": 1}


async def test_two_writers_racing_different_keys_keep_both_every_round(
    clients: list[httpx.AsyncClient],
) -> None:
    for i in range(ROUNDS):
        await _start_session(clients)
        steps = [("x", {"set": {"x": i}}), ("y", {"set": {"y": i}, "delete": ["a"]})]
        tasks = []
        for client, (name, body) in zip(clients, steps, strict=True):
            _gates(client)[name] = _Gate()
            tasks.append(asyncio.create_task(client.post(f"/gated/{name}", json=body)))
        for client, (name, _) in zip(clients, steps, strict=True):
            await _gates(client)[name].loaded.wait()
        for client, (name, _) in zip(clients, steps, strict=True):
            _gates(client)[name].go.set()  # both saves race from here
        responses = await asyncio.gather(*tasks)
        assert [r.status_code for r in responses] == [200, 200]
        stored = await _stored(clients)
        assert stored == {"user_id": "u", "b": 2, "x": i, "y": i}, f"round {i}: {stored}"


async def test_a_session_revoked_meanwhile_is_not_brought_back_by_a_delta_save(
    clients: list[httpx.AsyncClient], db_url: str
) -> None:
    admin = SessionStoreBackend.from_url(db_url)
    try:
        await _start_session(clients)
        gates = _gates(clients[0])
        gates["late"] = _Gate()
        task = asyncio.create_task(clients[0].post("/gated/late", json={"set": {"late": 1}}))
        await gates["late"].loaded.wait()
        assert await admin.clear_sessions_for_user("u") == 1
        gates["late"].go.set()
        response = await task
        assert response.status_code == 200 and "set-cookie" not in response.headers
        assert await admin.count_sessions_for_user("u") == 0
        assert (await admin.stats()).total == 0
        assert await _stored(clients) == {}
    finally:
        await admin.close()


async def test_merged_session_over_the_size_limit_is_refused_and_the_first_write_kept(
    db_url: str, tmp_path: Path
) -> None:
    service = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path),
                                                         SESSION_MAX_BYTES="1024"))  # fmt: skip
    await service.migrate()
    app = _app(service)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    try:
        await _start_session([client, client])
        gates = _gates(client)
        bodies = {"one": {"set": {"one": "x" * 600}}, "two": {"set": {"two": "y" * 600}}}
        tasks = {}
        for name, body in bodies.items():
            gates[name] = _Gate()
            tasks[name] = asyncio.create_task(client.post(f"/gated/{name}", json=body))
            await gates[name].loaded.wait()
        gates["one"].go.set()
        assert (await tasks["one"]).status_code == 200
        gates["two"].go.set()  # alone it would fit; merged with "one" it does not
        with pytest.raises(Exception, match="SESSION_MAX_BYTES"):
            await tasks["two"]
        stored = await _stored([client])
        assert sorted(stored) == ["a", "b", "one", "user_id"]
    finally:
        await client.aclose()
        await service.close()


async def test_a_write_saves_only_its_keys_and_a_read_saves_nothing(
    db_url: str, tmp_path: Path
) -> None:
    inner = await SessionStoreBackend.connect(db_url)
    await inner.migrate()
    counted = CountingBackend(inner)
    service = DefaultSessionService(counted, settings_for(db_url, str(tmp_path)))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_app(service)), base_url="http://t"
    )
    try:
        await _start_session([client, client])
        counted.calls.clear()
        assert (await _stored([client]))["a"] == 1
        assert counted.writes == 0
        _gates(client)["w"] = gate = _Gate()
        gate.go.set()
        response = await client.post("/gated/w", json={"set": {"c": 3}, "delete": ["a"]})
        assert response.status_code == 200 and "set-cookie" in response.headers
        assert (counted.calls["patch"], counted.writes) == (1, 1)
        assert await _stored([client]) == {"user_id": "u", "b": 2, "c": 3}
    finally:
        await client.aclose()
        await service.close()
