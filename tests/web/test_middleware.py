"""Sessions and their lifecycle (``docs/sessions.md``) through a real Starlette app, on every
store kind."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from itsdangerous import Signer

from session_service import DefaultSessionService, SessionRecord
from session_service.backend import SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.web.cookie import CookieCodec

from ..support.cookies import session_id_of
from ..support.webapp import WRITE_OPERATIONS, CountingBackend, build_app, settings_for

TTL = 3600


@pytest.fixture
async def counted(db_url: str) -> AsyncIterator[CountingBackend]:
    inner = await SessionStoreBackend.connect(db_url)
    await inner.migrate()
    backend = CountingBackend(inner)
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
def service(counted: CountingBackend, db_url: str, tmp_path: Path) -> DefaultSessionService:
    settings = settings_for(db_url, str(tmp_path), SESSION_TTL_SECONDS=str(TTL))
    return DefaultSessionService(counted, settings)


@pytest.fixture
async def client(service: DefaultSessionService) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(service)
    app.state.other_service = service
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def set_cookie(response: httpx.Response) -> str | None:
    value: str | None = response.headers.get("set-cookie")
    return value


async def login(client: httpx.AsyncClient, user: str = "alice") -> httpx.Response:
    response = await client.post("/login", params={"user": user})
    assert response.status_code == 200
    return response


async def test_request_without_cookie_or_write_touches_no_database(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    response = await client.get("/read")
    assert response.json() == {"data": {}, "id": None}
    assert set_cookie(response) is None
    assert sum(counted.calls.values()) == 0
    response = await client.get("/noop")
    assert set_cookie(response) is None and "vary" not in response.headers
    assert sum(counted.calls.values()) == 0


async def test_write_saves_once_and_sets_a_hardened_cookie(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    response = await client.post("/set", params={"color": "blue"})
    header = set_cookie(response)
    assert header is not None
    assert header.startswith("session_id=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={TTL}"):
        assert attribute in header
    assert "Secure" not in header  # standalone default
    assert counted.writes == 1 and counted.calls["create"] == 1
    assert (await client.get("/read")).json()["data"] == {"color": "blue"}


async def test_cookie_attributes_follow_settings(
    counted: CountingBackend, db_url: str, tmp_path: Path
) -> None:
    settings = settings_for(
        db_url,
        str(tmp_path),
        SESSION_COOKIE_SECURE="true",
        SESSION_COOKIE_SAMESITE="lax",
        SESSION_COOKIE_DOMAIN="example.test",
        SESSION_COOKIE_PATH="/app",
        SESSION_COOKIE_NAME="sid",
    )
    app = build_app(DefaultSessionService(counted, settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        header = set_cookie(await c.post("/set", params={"a": "1"}))
    assert header is not None and header.startswith("sid=")
    for attribute in ("Secure", "SameSite=Lax", "Domain=example.test", "Path=/app", "HttpOnly"):
        assert attribute in header


async def test_reads_do_not_write_or_resend_the_cookie(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    await login(client)
    writes = counted.writes
    for _ in range(3):
        response = await client.get("/read")
        assert response.json()["data"] == {"user_id": "alice"}
        assert set_cookie(response) is None
        assert response.headers["vary"] == "Cookie"
    assert counted.writes == writes


async def test_activity_extends_expiry_at_most_once_per_tenth_of_ttl(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    await login(client)
    session_id = session_id_of(client)
    # Pretend half the TTL has passed since the last write.
    record = await counted.load(session_id)
    assert record is not None
    record.expiry_date = utcnow() + timedelta(seconds=TTL // 2)
    await counted.save(record)
    response = await client.get("/read")
    assert set_cookie(response) is not None  # the browser's copy is extended too
    extended = await counted.load(session_id)
    assert extended is not None
    assert extended.expiry_date > utcnow() + timedelta(seconds=TTL * 0.9)
    touches = counted.calls["touch"]
    await client.get("/read")
    assert counted.calls["touch"] == touches == 1


async def test_writes_extend_expiry_by_the_same_rule_as_reads(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    await login(client)
    session_id = session_id_of(client)
    first = await counted.load(session_id)
    assert first is not None
    response = await client.post("/set", params={"k": "v"})
    assert set_cookie(response) is not None
    written = await counted.load(session_id)
    assert written is not None and written.data["k"] == "v"
    assert written.expiry_date == first.expiry_date  # extended less than a tenth ago
    # Pretend half the TTL has passed since the expiry last moved.
    written.expiry_date = utcnow() + timedelta(seconds=TTL // 2)
    await counted.save(written)
    await client.post("/set", params={"k": "w"})
    extended = await counted.load(session_id)
    assert extended is not None and extended.data["k"] == "w"
    assert extended.expiry_date > utcnow() + timedelta(seconds=TTL * 0.9)


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        "",
        "a" * 5000,
        "\u00e9\u00e9.sig",
        "abc.def.ghi",
    ],
)
async def test_malformed_cookie_is_a_fresh_session_without_database_work(
    client: httpx.AsyncClient, counted: CountingBackend, cookie: str
) -> None:
    response = await client.get("/read", headers=[(b"cookie", f"session_id={cookie}".encode())])
    assert response.status_code == 200
    assert response.json() == {"data": {}, "id": None}
    assert sum(counted.calls.values()) == 0


async def test_tampered_and_foreign_key_cookies_are_fresh_sessions(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    header = set_cookie(await login(client))
    assert header is not None
    value = header.split(";")[0].split("=", 1)[1]
    tampered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    client.cookies.clear()
    response = await client.get("/read", headers={"cookie": f"session_id={tampered}"})
    assert response.json() == {"data": {}, "id": None}
    sid = value.rsplit(".", 1)[0]
    foreign = Signer("another-key-entirely-000000000000000", salt=b"session_service.cookie")
    forged = foreign.sign(sid).decode()
    response = await client.get("/read", headers={"cookie": f"session_id={forged}"})
    assert response.json() == {"data": {}, "id": None}
    assert counted.calls["load"] == 0


async def test_unknown_and_expired_ids_are_never_adopted(
    client: httpx.AsyncClient, counted: CountingBackend, service: DefaultSessionService
) -> None:
    codec = CookieCodec(service.settings)
    planted = new_session_id()
    expired = SessionRecord(
        id=new_session_id(), data={"user_id": "old"}, expiry_date=utcnow() - timedelta(1)
    )
    await counted.save(expired)
    for sid in (planted, expired.id):
        cookie = codec.set_header(sid).split(b";")[0].decode()
        client.cookies.clear()
        writes = dict(counted.calls)
        response = await client.post("/set", params={"k": "v"}, headers={"cookie": cookie})
        new_header = set_cookie(response)
        assert new_header is not None
        (new_ids,) = [codec.session_ids([(b"cookie", new_header.split(";")[0].encode())])[0]]
        assert new_ids and new_ids[0] != sid, f"the client's id {sid!r} was adopted"
        # Written as a new session under the fresh id, and nothing else was written.
        stored = await counted.load(new_ids[0])
        assert stored is not None and stored.data == {"k": "v"}
        assert counted.calls["create"] == writes.get("create", 0) + 1
        assert counted.writes == sum(writes.get(k, 0) for k in WRITE_OPERATIONS) + 1
    assert await counted.load(planted) is None
    # The expired row is left as it was, still expired (written back, it would be live).
    stats = await counted.stats()
    assert (stats.total, stats.live, stats.expired) == (3, 2, 1)
    assert await counted.load(expired.id) is None
    assert [r.data for r in await counted.dump_all_sessions()] == [{"k": "v"}, {"k": "v"}]


async def test_cycle_id_on_login_kills_the_old_id_and_keeps_data(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    await client.post("/set", params={"cart": "3 apples"})
    before = (await client.get("/read")).json()["id"]
    await login(client)
    after = (await client.get("/read")).json()
    assert after["id"] != before
    assert after["data"] == {"cart": "3 apples", "user_id": "alice"}
    assert await counted.load(before) is None


async def test_flush_deletes_the_session_and_expires_the_cookie(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    await login(client)
    session_id = session_id_of(client)
    response = await client.post("/logout")
    header = set_cookie(response)
    assert header is not None and "Max-Age=0" in header
    assert await counted.load(session_id) is None
    assert (await client.get("/read")).json() == {"data": {}, "id": None}


async def test_emptied_session_is_deleted_and_cookie_expired(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    await login(client)
    session_id = session_id_of(client)
    header = set_cookie(await client.post("/clear"))
    assert header is not None and "Max-Age=0" in header
    assert await counted.load(session_id) is None


async def test_clear_user_from_another_instance_empties_their_sessions(
    client: httpx.AsyncClient, db_url: str, tmp_path: Path
) -> None:
    await login(client, "alice")
    other = DefaultSessionService(db_url, settings_for(db_url, str(tmp_path)))
    try:
        assert await other.clear_sessions_for_user("alice") == 1
    finally:
        await other.close()
    assert (await client.get("/read")).json() == {"data": {}, "id": None}


async def test_server_error_response_does_not_save(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    await login(client)
    response = await client.post("/fail")
    assert response.status_code == 500
    assert set_cookie(response) is None
    assert (await client.get("/read")).json()["data"] == {"user_id": "alice"}


@pytest.mark.parametrize("signed_in", [True, False])
async def test_handler_exception_saves_nothing(
    client: httpx.AsyncClient, counted: CountingBackend, signed_in: bool
) -> None:
    """A handler that raises (Starlette then answers 500 itself) leaves no change stored."""
    if signed_in:
        await login(client)
    before = dict(counted.calls)
    total = (await counted.stats()).total
    with pytest.raises(RuntimeError, match="handler failed"):
        await client.post("/raise")
    assert {k: counted.calls[k] - before.get(k, 0) for k in WRITE_OPERATIONS} == dict.fromkeys(
        WRITE_OPERATIONS, 0
    )
    assert (await counted.stats()).total == total
    expected = {"user_id": "alice"} if signed_in else {}
    assert (await client.get("/read")).json()["data"] == expected


async def test_session_revoked_during_request_is_not_written_back(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    await login(client)
    response = await client.post("/revoke-then-write")
    assert response.status_code == 200
    # The failed save leaves the cookie alone (it may be a concurrent login's new cookie)...
    assert set_cookie(response) is None
    assert await counted.count_sessions_for_user("alice") == 0
    # ...and the next request with the dead cookie expires it.
    response = await client.get("/read")
    assert response.json() == {"data": {}, "id": None}
    header = set_cookie(response)
    assert header is not None and "Max-Age=0" in header


async def test_fallback_keys_verify_but_only_the_current_key_signs(
    counted: CountingBackend, db_url: str, tmp_path: Path
) -> None:
    old_key = "old-key-000000000000000000000000000000000"
    new_key = "new-key-111111111111111111111111111111111"
    old = DefaultSessionService(
        counted, settings_for(db_url, str(tmp_path), SESSION_SECRET_KEY=old_key)
    )
    rotated = DefaultSessionService(
        counted,
        settings_for(
            db_url, str(tmp_path), SESSION_SECRET_KEY=new_key, SESSION_SECRET_KEY_FALLBACKS=old_key
        ),
    )
    old_app, new_app = build_app(old), build_app(rotated)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=old_app), base_url="http://t"
    ) as c_old:
        await c_old.post("/login", params={"user": "bob"})
        cookies = c_old.cookies
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=new_app), base_url="http://t", cookies=cookies
        ) as c_new:
            assert (await c_new.get("/read")).json()["data"] == {"user_id": "bob"}
            response = await c_new.post("/set", params={"k": "v"})
            header = set_cookie(response)
            assert header is not None
            value = header.split(";")[0].split("=", 1)[1]
    old_only = Signer(old_key, salt=b"session_service.cookie", digest_method=hashlib.sha256)
    new_only = Signer(new_key, salt=b"session_service.cookie", digest_method=hashlib.sha256)
    assert new_only.validate(value)
    assert not old_only.validate(value)


async def test_store_outage_is_a_503_with_a_logged_cause(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "postgresql://user:hunter2secret@127.0.0.1:1/none"
    service = DefaultSessionService(url, settings_for(url, str(tmp_path)))
    app = build_app(service)
    codec = CookieCodec(service.settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/noop")).status_code == 200  # no session work, no outage
        with caplog.at_level(logging.ERROR, logger="session_service"):
            written = await c.post("/set", params={"k": "v"})
            cookie = codec.set_header(new_session_id()).split(b";")[0].decode()
            read = await c.get("/read", headers={"cookie": cookie})
    for response in (written, read):
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/plain")
        assert len(response.text) < 200 and "Traceback" not in response.text
        assert set_cookie(response) is None
    assert "cannot reach the session database" in caplog.text
    assert "hunter2secret" not in caplog.text
    await service.close()


async def test_non_json_value_fails_the_request_naming_the_key_and_stores_nothing(
    client: httpx.AsyncClient, counted: CountingBackend
) -> None:
    with pytest.raises(Exception, match="when"):
        await client.post("/not-json")
    assert (await counted.stats()).total == 0


async def test_oversized_session_is_refused_and_nothing_is_stored(
    counted: CountingBackend, db_url: str, tmp_path: Path
) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_MAX_BYTES="1024")
    service = DefaultSessionService(db_url, settings)
    app = build_app(service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        with pytest.raises(Exception, match="SESSION_MAX_BYTES"):
            await c.post("/set-json", json={"blob": "x" * 2000})
    assert (await counted.stats()).total == 0
    await service.close()


async def test_tenant_sessions_are_only_honoured_under_their_tenant(
    counted: CountingBackend, service: DefaultSessionService
) -> None:
    app = build_app(
        service,
        tenant_resolver=lambda scope: dict(scope["headers"]).get(b"x-tenant", b"").decode() or None,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        await c.post("/login", params={"user": "alice"}, headers={"x-tenant": "acme"})
        assert (await c.get("/read", headers={"x-tenant": "acme"})).json()["data"] == {
            "user_id": "alice"
        }
        assert (await c.get("/read", headers={"x-tenant": "globex"})).json()["data"] == {}
        assert (await c.get("/read")).json()["data"] == {}
    assert await counted.count_sessions_for_user("alice", tenant_id="acme") == 1
    assert await counted.count_sessions_for_user("alice", tenant_id="globex") == 0
