"""Starlette's ``tests/middleware/test_session.py``, case by case, against our middleware.

Where we deliberately differ (a bad cookie is expired with ``Max-Age=0``), the test says so;
docs/migrating.md ("What differs, and why") explains why.
"""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.applications import Starlette
from starlette.routing import Mount

from session_service import Session, SessionRecord, SessionStoreBackend
from session_service.records import utcnow
from session_service.settings import DEFAULT_TTL_SECONDS

from .conftest import Compat, set_cookie


def test_session_round_trip_with_default_fourteen_day_max_age(compat: Compat) -> None:
    client = compat.client(compat.app())
    assert client.get("/view_session").json() == {"session": {}}
    response = client.post("/update_session", json={"some": "data"})
    assert response.json() == {"session": {"some": "data"}}
    max_age = re.search(r"; Max-Age=([0-9]+);", set_cookie(response))
    assert max_age is not None and int(max_age[1]) == DEFAULT_TTL_SECONDS == 14 * 24 * 3600
    assert client.get("/view_session").json() == {"session": {"some": "data"}}
    assert client.post("/clear_session").json() == {"session": {}}
    assert client.get("/view_session").json() == {"session": {}}


def test_expired_session_reads_empty(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"some": "data"})
    sid = client.get("/id").json()["id"]

    async def expire(backend: SessionStoreBackend) -> None:
        record = await backend.load(sid)
        assert record is not None
        record.expiry_date = utcnow() - timedelta(seconds=1)
        await backend.save(record)

    compat.store(expire)
    assert client.get("/view_session").json() == {"session": {}}


def test_secure_cookie_is_not_sent_back_over_plain_http(compat: Compat) -> None:
    # One app (and service) per client: each entered client runs its own event loop.
    secure = compat.client(compat.app(SESSION_COOKIE_SECURE="true"), base_url="https://testserver")
    insecure = compat.client(compat.app(SESSION_COOKIE_SECURE="true"), base_url="http://testserver")

    response = insecure.post("/update_session", json={"some": "data"})
    assert response.json() == {"session": {"some": "data"}}
    assert "Secure" in set_cookie(response)
    assert insecure.get("/view_session").json() == {"session": {}}

    assert secure.get("/view_session").json() == {"session": {}}
    assert secure.post("/update_session", json={"some": "data"}).json() == {
        "session": {"some": "data"}
    }
    assert secure.get("/view_session").json() == {"session": {"some": "data"}}
    assert secure.post("/clear_session").json() == {"session": {}}
    assert secure.get("/view_session").json() == {"session": {}}


def test_cookie_path_of_a_mounted_app(compat: Compat) -> None:
    inner = compat.app(SESSION_COOKIE_PATH="/second_app")
    outer = Starlette(
        routes=[Mount("/second_app", app=inner)], lifespan=inner.router.lifespan_context
    )
    client = compat.client(outer)
    response = client.post("/second_app/update_session", json={"some": "data"})
    assert response.status_code == 200
    path = re.search(r"; Path=(\S+);", set_cookie(response))
    assert path is not None and path[1] == "/second_app"


def test_invalid_cookie_is_an_empty_session_and_is_expired(compat: Compat) -> None:
    client = compat.client(compat.app(), cookies={"session_id": "invalid"})
    response = client.get("/view_session")
    assert response.json() == {"session": {}}
    # Deliberate difference: Starlette ignores it; we tell the browser to drop it.
    assert "Max-Age=0" in set_cookie(response)


def test_browser_session_cookie_has_no_max_age_or_expires(compat: Compat) -> None:
    client = compat.client(compat.app(SESSION_COOKIE_PERSISTENT="false"))
    response = client.post("/update_session", json={"some": "data"})
    assert response.json() == {"session": {"some": "data"}}
    header = set_cookie(response)
    assert header and "Max-Age" not in header and "Expires" not in header
    assert client.get("/view_session").json() == {"session": {"some": "data"}}
    client.cookies.delete("session_id")
    assert client.get("/view_session").json() == {"session": {}}


def test_browser_session_cookie_still_expires_on_the_server(compat: Compat) -> None:
    # The TTL holds server-side even when the browser keeps the cookie "until it closes".
    client = compat.client(compat.app(SESSION_COOKIE_PERSISTENT="false", SESSION_TTL_SECONDS="60"))
    client.post("/update_session", json={"some": "data"})
    sid = client.get("/id").json()["id"]
    record = compat.store(lambda b: b.load(sid))
    assert record is not None
    assert record.expiry_date <= utcnow() + timedelta(seconds=60)


def test_domain_cookie(compat: Compat) -> None:
    client = compat.client(compat.app(SESSION_COOKIE_DOMAIN=".example.com"))
    response = client.post("/update_session", json={"some": "data"})
    assert response.json() == {"session": {"some": "data"}}
    assert "Domain=.example.com" in set_cookie(response)


def test_partitioned_cookie(compat: Compat) -> None:
    app = compat.app(SESSION_COOKIE_PARTITIONED="true", SESSION_COOKIE_SECURE="true")
    client = compat.client(app, base_url="https://testserver")
    header = set_cookie(client.post("/update_session", json={"some": "data"}))
    assert "; Partitioned" in header and "; Secure" in header
    assert "Partitioned" not in set_cookie(
        compat.client(compat.app()).post("/update_session", json={"a": 1})
    )


def test_json_response_of_the_bare_session(compat: Compat) -> None:
    client = compat.client(compat.app())
    assert client.get("/view_bare").json() == {}
    client.post("/update_session", json={"some": "data", "n": [1, 2]})
    assert client.get("/view_bare").json() == {"some": "data", "n": [1, 2]}


def test_vary_cookie_only_when_the_session_was_used(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"some": "data"})
    assert client.get("/view_session").headers["vary"] == "Cookie"
    assert "vary" not in client.get("/nothing").headers


def test_pop_with_default_on_no_session_adds_no_vary_and_no_cookie(compat: Compat) -> None:
    client = compat.client(compat.app())
    response = client.post("/pop", params={"key": "user"})
    assert response.json() == {"popped": None}
    assert "vary" not in response.headers and not set_cookie(response)


def test_pop_of_a_missing_key_on_a_stored_session_changes_nothing(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"some": "data"})
    response = client.post("/pop", params={"key": "missing"})
    assert response.json() == {"popped": None}
    assert not set_cookie(response)  # not modified: nothing saved, no cookie re-sent
    assert response.headers["vary"] == "Cookie"  # as Starlette: the session was used
    assert client.get("/view_session").json() == {"session": {"some": "data"}}


def test_session_tracks_modification() -> None:
    # Starlette's own test of its Session class, unchanged but for the class.
    session = Session({"a": "1", "b": "2"})
    assert not session.modified

    # __setitem__
    session["c"] = "3"
    assert session.modified

    # __delitem__
    session = Session({"a": "1"})
    del session["a"]
    assert session.modified

    # clear
    session = Session({"a": "1"})
    session.clear()
    assert session.modified

    # pop with existing key
    session = Session({"a": "1"})
    session.pop("a")
    assert session.modified

    # pop with missing key
    session = Session({"a": "1"})
    session.pop("missing", None)
    assert not session.modified

    # setdefault with missing key
    session = Session({"a": "1"})
    session.setdefault("b", "2")
    assert session.modified

    # setdefault with existing key
    session = Session({"a": "1"})
    session.setdefault("a", "2")
    assert not session.modified


def test_dict_operations_through_the_middleware(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"first": 1})
    assert client.post("/merge", json={"second": 2, "third": 3}).json() == {
        "first": 1,
        "second": 2,
        "third": 3,
    }
    # popitem removes the newest key, as on a dict.
    assert client.post("/popitem").json()["popped"] == ["newest", "n"]
    assert client.post("/clear_session").json() == {"session": {}}
    client.post("/update_session", json={"first": 1, "second": 2})
    response = client.post("/setdefault", json={"key": "first", "value": 9})
    assert response.json()["value"] == 1
    assert not set_cookie(response)  # nothing changed, nothing saved
    assert client.post("/setdefault", json={"key": "new", "value": 9}).json()["value"] == 9
    copied = client.get("/copy").json()
    assert copied["type"] == "dict" and copied["copy"]["not-saved"] is True
    assert client.get("/view_bare").json() == {"first": 1, "second": 2, "new": 9}
    assert client.post("/pop", params={"key": "new"}).json() == {"popped": 9}
    assert client.get("/view_bare").json() == {"first": 1, "second": 2}


def test_session_record_type_is_public(compat: Compat) -> None:
    # Apps that seed sessions in their tests use SessionRecord through the store.
    client = compat.client(compat.app())
    client.post("/update_session", json={"some": "data"})
    sid = client.get("/id").json()["id"]
    record = compat.store(lambda b: b.load(sid))
    assert isinstance(record, SessionRecord) and record.data == {"some": "data"}
