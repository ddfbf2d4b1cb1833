""" "Your devices" on every store: listing, client addresses, revoke by handle, sign out others.

Each test drives a real app through the session middleware on a real store of each kind; the
client's address is the ASGI peer the test client reports, as a proxy or a browser would be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from session_service import DefaultSessionService, SessionRecord, get_session
from session_service.devices import USER_AGENT_LENGTH
from session_service.records import new_session_id, utcnow
from session_service.storable import at_rest_id
from session_service.stores.redis import RedisSessionStore

from ..conftest import sql_engine
from ..support.webapp import settings_for

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def _service(db_url: str, tmp_path: Path, **env: str) -> DefaultSessionService:
    return DefaultSessionService(db_url, settings_for(db_url, str(tmp_path), **env))


async def login(request: Request) -> Response:
    session = get_session(request)
    session["user_id"] = request.query_params["user"]
    session.cycle_id()
    return PlainTextResponse("signed in")


async def devices(request: Request) -> Response:
    service: DefaultSessionService = request.app.state.service
    session = get_session(request)
    infos = await service.list_user_sessions(session["user_id"], current=session)
    return JSONResponse(
        [
            {
                "handle": i.handle,
                "device": i.device,
                "ip": i.ip,
                "user_agent": i.user_agent,
                "current": i.current,
                "last_seen": i.last_seen.isoformat() if i.last_seen else None,
            }
            for i in infos
        ]
    )


async def read(request: Request) -> Response:
    return PlainTextResponse(str(request.session.get("user_id")))


async def write(request: Request) -> Response:
    request.session["cart"] = request.query_params.get("cart", "")
    return PlainTextResponse("written")


async def sign_out_others(request: Request) -> Response:
    service: DefaultSessionService = request.app.state.service
    session = get_session(request)
    n = await service.clear_sessions_for_user(session["user_id"], keep=session)
    return PlainTextResponse(str(n))


def build(service: DefaultSessionService) -> Starlette:
    routes = [
        Route("/login", login, methods=["POST"]),
        Route("/devices", devices),
        Route("/read", read),
        Route("/write", write, methods=["POST"]),
        Route("/others", sign_out_others, methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=[service.session_layer()])
    app.state.service = service
    return app


Client = httpx.AsyncClient
MakeClient = Callable[..., Client]


@pytest.fixture
async def make_client(db_url: str, tmp_path: Path) -> AsyncIterator[MakeClient]:
    """A factory of signed-out browsers: ``make_client(peer, user_agent, **env)``, each on a
    service configured by ``env``; the peer is the address the app sees the request from."""
    services: list[DefaultSessionService] = []
    clients: list[Client] = []
    first = _service(db_url, tmp_path)
    await first.migrate()
    services.append(first)

    def factory(
        peer: str = "203.0.113.5", user_agent: str | None = FIREFOX_WINDOWS, **env: str
    ) -> Client:
        service = _service(db_url, tmp_path, **env)
        services.append(service)
        transport = httpx.ASGITransport(app=build(service), client=(peer, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        if user_agent is None:
            del client.headers["user-agent"]
        else:
            client.headers["user-agent"] = user_agent
        clients.append(client)
        return client

    try:
        yield factory
    finally:
        for client in clients:
            await client.aclose()
        for service in services:
            await service.close()


async def _devices(client: Client) -> list[dict[str, Any]]:
    response = await client.get("/devices")
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


# -- tracking off, on, coarse ----------------------------------------------------------------


async def test_tracking_is_off_by_default_no_ip_nor_user_agent(make_client: MakeClient) -> None:
    client = make_client()
    await client.post("/login?user=alice")
    [info] = await _devices(client)
    assert info["ip"] is None
    assert info["user_agent"] is None
    assert info["last_seen"] is None
    assert info["device"] == "Unknown browser"
    assert info["current"] is True
    assert info["handle"]  # revocable without tracking too


async def test_listing_labels_each_device_and_marks_this_one(make_client: MakeClient) -> None:
    laptop = make_client(peer="203.0.113.5", user_agent=FIREFOX_WINDOWS, SESSION_TRACK_DEVICES="1")
    phone = make_client(peer="198.51.100.7", user_agent=CHROME_ANDROID, SESSION_TRACK_DEVICES="1")
    iphone = make_client(peer="2001:db8::1", user_agent=SAFARI_IPHONE, SESSION_TRACK_DEVICES="1")
    for client in (laptop, phone, iphone):
        assert (await client.post("/login?user=alice")).status_code == 200
    listed = await _devices(phone)
    assert {(i["device"], i["ip"]) for i in listed} == {
        ("Firefox on Windows", "203.0.113.5"),
        ("Chrome on Android", "198.51.100.7"),
        ("Safari on iOS", "2001:db8::1"),
    }
    assert [i["device"] for i in listed if i["current"]] == ["Chrome on Android"]
    assert all(i["last_seen"] is not None for i in listed)
    assert len({i["handle"] for i in listed}) == 3
    # Most recently seen first: the phone signed in after the laptop.
    order = [i["device"] for i in listed]
    assert order.index("Chrome on Android") < order.index("Firefox on Windows")


async def test_a_write_keeps_the_device_fields_and_the_handle(make_client: MakeClient) -> None:
    # A write saves only the changed key (docs/sessions.md, "Concurrent requests of one session"):
    # the device must survive it.
    laptop = make_client(peer="203.0.113.5", user_agent=FIREFOX_WINDOWS, SESSION_TRACK_DEVICES="1")
    assert (await laptop.post("/login?user=alice")).status_code == 200
    [before] = await _devices(laptop)
    for cart in ("a", "b"):
        assert (await laptop.post(f"/write?cart={cart}")).status_code == 200
    [after] = await _devices(laptop)
    assert (after["handle"], after["device"], after["ip"], after["user_agent"]) == (
        before["handle"],
        "Firefox on Windows",
        "203.0.113.5",
        FIREFOX_WINDOWS,
    )
    assert after["last_seen"] is not None


async def test_coarse_tracking_keeps_only_the_24_or_48_network(make_client: MakeClient) -> None:
    v4 = make_client(peer="203.0.113.77", SESSION_TRACK_DEVICES="coarse")
    v6 = make_client(peer="2001:db8:abcd:12::99", SESSION_TRACK_DEVICES="coarse")
    await v4.post("/login?user=alice")
    await v6.post("/login?user=alice")
    assert {i["ip"] for i in await _devices(v4)} == {"203.0.113.0/24", "2001:db8:abcd::/48"}


async def test_user_agent_is_cut_to_512_characters(make_client: MakeClient) -> None:
    client = make_client(user_agent="Mozilla/5.0 " + "x" * 2000, SESSION_TRACK_DEVICES="true")
    await client.post("/login?user=alice")
    [info] = await _devices(client)
    assert len(info["user_agent"]) == USER_AGENT_LENGTH
    no_agent = make_client(user_agent=None, SESSION_TRACK_DEVICES="true")
    await no_agent.post("/login?user=bob")
    [info] = await _devices(no_agent)
    assert info["user_agent"] is None
    assert info["device"] == "Unknown browser"


# -- proxies ---------------------------------------------------------------------------------

TRACK_BEHIND_PROXY = {"SESSION_TRACK_DEVICES": "true", "SESSION_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}


async def _ip_after_login(client: Client, forwarded: str | None) -> str | None:
    headers = {} if forwarded is None else {"x-forwarded-for": forwarded}
    response = await client.post("/login?user=alice", headers=headers)
    assert response.status_code == 200
    [info] = await _devices(client)
    ip: str | None = info["ip"]
    return ip


async def test_forwarded_for_from_a_trusted_proxy_gives_the_right_most_untrusted_hop(
    make_client: MakeClient,
) -> None:
    client = make_client(peer="10.0.0.1", **TRACK_BEHIND_PROXY)
    # The client forged the first hop; our two proxies appended the real one and themselves.
    forged = "192.0.2.66, 203.0.113.9, 10.1.2.3"
    assert await _ip_after_login(client, forged) == "203.0.113.9"


async def test_forwarded_for_from_anyone_else_is_ignored(make_client: MakeClient) -> None:
    client = make_client(peer="198.51.100.20", **TRACK_BEHIND_PROXY)
    assert await _ip_after_login(client, "203.0.113.9") == "198.51.100.20"


async def test_trusted_ipv6_proxy_and_ipv4_mapped_client(make_client: MakeClient) -> None:
    client = make_client(peer="::1", **TRACK_BEHIND_PROXY)
    assert await _ip_after_login(client, "::ffff:203.0.113.9") == "203.0.113.9"


@pytest.mark.parametrize(
    "forwarded",
    [
        "not-an-ip",
        "203.0.113.9, <script>",
        "203.0.113.9:8080",
        "192.0.2.4, " * 40 + "203.0.113.9",  # many hops
        "2" * 10_000,  # 10 KB
        "",
        " , ",
    ],
    ids=["word", "markup", "port", "many-hops", "10kb", "empty", "commas"],
)
async def test_garbage_forwarded_for_is_ignored_never_a_500(
    make_client: MakeClient, forwarded: str
) -> None:
    client = make_client(peer="10.0.0.1", **TRACK_BEHIND_PROXY)
    assert await _ip_after_login(client, forwarded) == "10.0.0.1"


async def test_a_peer_that_is_not_an_ip_is_stored_as_none(make_client: MakeClient) -> None:
    client = make_client(peer="testclient", SESSION_TRACK_DEVICES="true")
    assert await _ip_after_login(client, "203.0.113.9") is None


# -- revoke by handle, sign out other devices ----------------------------------------------


async def test_sign_out_other_devices_keeps_this_one(make_client: MakeClient) -> None:
    laptop, phone, other_user = make_client(), make_client(), make_client()
    await laptop.post("/login?user=alice")
    await phone.post("/login?user=alice")
    await other_user.post("/login?user=bob")
    assert (await laptop.post("/others")).text == "1"
    assert (await laptop.get("/read")).text == "alice"
    assert (await phone.get("/read")).text == "None"
    assert (await other_user.get("/read")).text == "bob"


@pytest.mark.stores("sqlite", "postgres")
async def test_a_session_from_before_handles_gets_one_when_listed(
    db_url: str, tmp_path: Path
) -> None:
    service = _service(db_url, tmp_path)
    await service.migrate()
    store = service.get_session_store()
    try:
        old = await store.create(_record("alice"))
        async with sql_engine(store).begin() as conn:  # as revision 0004 leaves an old row
            await conn.execute(text("UPDATE sessions SET handle = NULL"))
        [first] = await service.list_user_sessions("alice")
        [again] = await service.list_user_sessions("alice")
        assert first.handle == again.handle and first.handle not in old.id
        assert await service.revoke_user_session("alice", first.handle) is True
    finally:
        await service.close()


@pytest.mark.stores("redis")
async def test_a_redis_value_from_before_device_fields_is_read_and_named(
    db_url: str, tmp_path: Path
) -> None:
    service = _service(db_url, tmp_path, SESSION_TRACK_DEVICES="true")
    store = service.get_session_store().store
    assert isinstance(store, RedisSessionStore)
    try:
        old = await store.create(_record("alice"))
        key = store.key_prefix + "s:" + at_rest_id(old.id)
        value = await store.client.get(key)
        assert isinstance(value, bytes)
        fields = value.split(b"\0")
        v1 = b"\0".join([b"1", *fields[1:6], fields[10]])  # the layout before device fields
        await store.client.set(key, v1, keepttl=True)
        loaded = await store.load(old.id)
        assert loaded is not None and loaded.data == {"user_id": "alice"}
        assert loaded.handle is None and loaded.last_seen is None
        assert await store.seen(old.id, utcnow()) is True
        [first] = await service.list_user_sessions("alice")
        [again] = await service.list_user_sessions("alice")
        assert first.handle and first.handle == again.handle and first.last_seen is not None
        assert await service.clear_sessions_for_user("alice", keep=old.id) == 0
        assert await service.revoke_user_session("alice", first.handle) is True
        assert await store.load(old.id) is None
    finally:
        await service.close()


def _record(user: str) -> SessionRecord:
    return SessionRecord(new_session_id(), {"user_id": user}, utcnow() + timedelta(hours=1))
