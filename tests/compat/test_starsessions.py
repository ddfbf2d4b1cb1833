"""starsessions' middleware, session, rolling, expiring and autoloading tests, against ours.

starsessions needs ``await load_session(request)`` (or its autoload middleware) before a
handler may use the session; ours loads it whenever a cookie is sent, so every handler here
simply uses ``request.session``.
"""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.applications import Starlette

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow
from session_service.web.cookie import CookieCodec

from .conftest import Compat, set_cookie

TTL = 3600


def seed(compat: Compat, data: dict[str, object], *, expires_in: float = TTL) -> str:
    """A stored session (as if an earlier request had written it); returns its id."""
    record = SessionRecord(
        id=new_session_id(), data=data, expiry_date=utcnow() + timedelta(seconds=expires_in)
    )

    async def save(backend: SessionStoreBackend) -> None:
        await backend.save(record)

    compat.store(save)
    return record.id


def cookie_for(app: Starlette, sid: str) -> dict[str, str]:
    """The cookie the app would set for ``sid`` (signed with its key), for a client's jar."""
    codec = CookieCodec(app.state.service.settings)
    name, _, value = codec.set_header(sid).split(b";")[0].decode().partition("=")
    return {name: value}


def max_age(response: object) -> int:
    match = re.search(r"Max-Age=(\d+)", set_cookie(response))
    assert match is not None, set_cookie(response)
    return int(match[1])


def test_loads_empty_session(compat: Compat) -> None:
    assert compat.client(compat.app()).get("/view_bare").json() == {}


def test_unknown_session_id_is_an_empty_session(compat: Compat) -> None:
    app = compat.app()
    client = compat.client(app, cookies=cookie_for(app, "nope"))
    assert client.get("/view_bare").json() == {}


def test_loads_existing_session_without_an_explicit_load(compat: Compat) -> None:
    # starsessions' test_autoloading: here every request with a cookie is loaded.
    app = compat.app()
    sid = seed(compat, {"key": "value"})
    client = compat.client(app, cookies=cookie_for(app, sid))
    assert client.get("/view_bare").json() == {"key": "value"}
    assert client.get("/view_session").json() == {"session": {"key": "value"}}


def test_sends_cookie_when_session_created_or_updated(compat: Compat) -> None:
    app = compat.app()
    client = compat.client(app)
    assert "session_id=" in set_cookie(client.post("/update_session", json={"key": "value"}))
    app = compat.app()  # one app per client: each entered client runs its own event loop
    sid = seed(compat, {"key2": "value2"})
    client = compat.client(app, cookies=cookie_for(app, sid))
    response = client.post("/update_session", json={"key": "value"})
    assert "session_id=" in set_cookie(response)
    assert client.get("/view_bare").json() == {"key2": "value2", "key": "value"}


def test_destroyed_session_expires_cookie_and_clears_storage(compat: Compat) -> None:
    app = compat.app()
    sid = seed(compat, {"key2": "value2"})
    client = compat.client(app, cookies=cookie_for(app, sid))
    header = set_cookie(client.post("/clear_session"))
    assert "session_id=" in header and "01 Jan 1970 00:00:00 GMT" in header
    assert compat.store(lambda b: b.load(sid)) is None


def test_clearing_an_initially_empty_session_sends_no_cookie(compat: Compat) -> None:
    response = compat.client(compat.app()).post("/clear_session")
    assert "set-cookie" not in response.headers


def test_clearing_with_a_dead_cookie_expires_it(compat: Compat) -> None:
    # Deliberate difference: starsessions sends nothing; a cookie naming no live session
    # is expired (Max-Age=0), so the browser stops sending it.
    app = compat.app()
    client = compat.client(app, cookies=cookie_for(app, "gone"))
    assert "Max-Age=0" in set_cookie(client.post("/clear_session"))


def test_cookie_attributes_from_settings(compat: Compat) -> None:
    app = compat.app(
        SESSION_COOKIE_SAMESITE="none",
        SESSION_COOKIE_SECURE="true",
        SESSION_COOKIE_PATH="/admin",
        SESSION_COOKIE_DOMAIN="example.com",
    )
    header = set_cookie(compat.client(app).post("/update_session", json={"key": "value"})).lower()
    for attribute in ("samesite=none", "path=/admin", "domain=example.com", "secure", "max-age"):
        assert attribute in header


def test_session_only_cookie(compat: Compat) -> None:
    # starsessions' lifetime=0: a cookie the browser drops when it closes.
    app = compat.app(SESSION_COOKIE_PERSISTENT="false")
    header = set_cookie(compat.client(app).post("/update_session", json={"key": "value"}))
    assert header and "max-age" not in header.lower() and "expires" not in header.lower()


def test_regenerating_the_id_removes_the_old_session(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"key": "value"})
    old = client.get("/id").json()["id"]
    client.post("/login", params={"user": "alice"})
    new = client.get("/id").json()
    assert new["id"] not in (None, old)
    assert new["session"] == {"key": "value", "user_id": "alice"}
    assert compat.store(lambda b: b.load(old)) is None


def test_rolling_session_extends_its_expiry(compat: Compat) -> None:
    app = compat.app(SESSION_TTL_SECONDS=str(TTL))
    sid = seed(compat, {"id": 42}, expires_in=TTL / 2)
    client = compat.client(app, cookies=cookie_for(app, sid))
    response = client.get("/view_bare")
    assert response.json() == {"id": 42}
    assert max_age(response) == TTL  # the browser's copy moves with the server's
    record = compat.store(lambda b: b.load(sid))
    assert record is not None and record.expiry_date > utcnow() + timedelta(seconds=TTL * 0.9)


def test_non_rolling_session_keeps_its_expiry_on_reads_and_writes(compat: Compat) -> None:
    app = compat.app(SESSION_TTL_SECONDS=str(TTL), SESSION_ROLLING="false")
    sid = seed(compat, {"id": 42}, expires_in=TTL / 2)
    before = compat.store(lambda b: b.load(sid))
    assert before is not None
    client = compat.client(app, cookies=cookie_for(app, sid))
    response = client.get("/view_bare")
    assert response.json() == {"id": 42} and not set_cookie(response)
    response = client.post("/update_session", json={"more": 1})
    assert max_age(response) <= TTL / 2  # what is left, not a fresh TTL
    after = compat.store(lambda b: b.load(sid))
    assert after is not None and after.data == {"id": 42, "more": 1}
    assert after.expiry_date == before.expiry_date


def test_non_rolling_session_gets_the_full_ttl_at_creation(compat: Compat) -> None:
    app = compat.app(SESSION_TTL_SECONDS=str(TTL), SESSION_ROLLING="false")
    response = compat.client(app).post("/update_session", json={"k": "v"})
    assert max_age(response) == TTL
