"""The behaviour cases of Django's ``tests/sessions_tests/tests.py`` that apply to a
middleware-managed session: the ``SessionBase`` semantics (``flush``, ``cycle_key``, no
adoption of unknown keys, no resurrection) and ``SessionMiddleware``'s cookie rules.

Django's ``flush()``/``cycle_key()`` are our ``flush()``/``cycle_id()``.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from session_service import SessionRecord, SessionStoreBackend
from session_service.records import new_session_id, utcnow

from .conftest import Compat, set_cookie
from .test_starsessions import cookie_for, seed


def test_new_session_is_empty_without_id_or_cookie(compat: Compat) -> None:
    response = compat.client(compat.app()).get("/id")
    assert response.json() == {"id": None, "session": {}}
    assert not set_cookie(response)


def test_store_then_read_back_and_save_does_not_clear_data(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"cat": "dog"})
    client.post("/update_session", json={"other": 1})
    assert client.get("/view_bare").json() == {"cat": "dog", "other": 1}


def test_pop_with_and_without_default(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"some key": "exists"})
    assert client.post("/pop", params={"key": "some key"}).json() == {"popped": "exists"}
    assert client.post("/pop", params={"key": "some key"}).json() == {"popped": None}


def test_flush_deletes_the_session_and_forgets_its_id(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"foo": "bar"})
    sid = client.get("/id").json()["id"]
    header = set_cookie(client.post("/logout"))
    assert "Max-Age=0" in header and "01 Jan 1970" in header
    assert compat.store(lambda b: b.load(sid)) is None
    assert client.get("/id").json() == {"id": None, "session": {}}


def test_data_written_after_flush_is_a_new_session(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"user_id": "alice"})
    old = client.get("/id").json()["id"]
    response = client.post("/flush_then_write")
    assert response.json() == {"id_after_flush": None}
    assert "Max-Age=0" not in set_cookie(response) and set_cookie(response)
    after = client.get("/id").json()
    assert after["session"] == {"flash": "bye"}
    assert after["id"] not in (None, old)
    assert compat.store(lambda b: b.load(old)) is None


def test_flush_then_write_without_a_stored_session(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/flush_then_write")
    assert client.get("/view_bare").json() == {"flash": "bye"}


def test_cycle_keeps_data_under_a_new_id_and_kills_the_old(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"a": "c", "b": "d"})
    old = client.get("/id").json()["id"]
    client.post("/login", params={"user": "alice"})
    new = client.get("/id").json()
    assert new["id"] != old
    assert new["session"] == {"a": "c", "b": "d", "user_id": "alice"}
    assert compat.store(lambda b: b.load(old)) is None


def test_cycle_without_keeping_data_starts_clean(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"planted": "by an attacker"})
    old = client.get("/id").json()["id"]
    client.post("/login", params={"user": "alice", "keep": "0"})
    new = client.get("/id").json()
    assert new["id"] != old and new["session"] == {"user_id": "alice"}
    assert compat.store(lambda b: b.load(old)) is None


def test_unknown_key_is_never_adopted(compat: Compat) -> None:
    app = compat.app()
    planted = new_session_id()
    client = compat.client(app, cookies=cookie_for(app, planted))
    client.post("/update_session", json={"k": "v"})
    assert client.get("/id").json()["id"] != planted
    assert compat.store(lambda b: b.load(planted)) is None


def test_loading_an_unknown_key_creates_no_record(compat: Compat) -> None:
    app = compat.app()
    planted = new_session_id()
    client = compat.client(app, cookies=cookie_for(app, planted))
    assert client.get("/view_bare").json() == {}
    assert compat.store(lambda b: b.load(planted)) is None


def test_expired_session_is_empty_and_cleared_by_cleanup(compat: Compat) -> None:
    app = compat.app()
    sid = seed(compat, {"foo": "bar"}, expires_in=-10)
    live = seed(compat, {"foo": "baz"})
    client = compat.client(app, cookies=cookie_for(app, sid))
    assert client.get("/view_bare").json() == {}

    async def clear_expired(backend: SessionStoreBackend) -> tuple[SessionRecord | None, int]:
        await backend.delete_expired()
        return await backend.load(live), (await backend.stats()).total

    kept, total = compat.store(clear_expired)
    assert kept is not None and total == 1


def test_save_does_not_resurrect_a_session_logged_out_elsewhere(compat: Compat) -> None:
    async def log_out_elsewhere_then_write(request: Request) -> Response:
        other = request.app.state.service
        await other.clear_sessions_for_user(request.session["user_id"])
        request.session["late"] = "write"
        return PlainTextResponse("ok")

    app = compat.app()
    app.router.routes.append(Route("/race", log_out_elsewhere_then_write, methods=["POST"]))
    client = compat.client(app)
    client.post("/login", params={"user": "alice"})
    response = client.post("/race")
    # Deliberate difference: Django raises SessionInterrupted (400); we answer the request,
    # save nothing and leave the cookie for the next request to expire.
    assert response.status_code == 200 and not set_cookie(response)
    assert compat.store(lambda b: b.count_sessions_for_user("alice")) == 0
    assert "Max-Age=0" in set_cookie(client.get("/view_bare"))


def test_session_is_not_saved_on_a_server_error(compat: Compat) -> None:
    client = compat.client(compat.app(), raise_server_exceptions=False)
    client.post("/update_session", json={"k": "v"})
    response = client.post("/fail")
    assert response.status_code == 500 and not set_cookie(response)
    assert client.get("/view_bare").json() == {"k": "v"}


def test_emptied_session_deletes_the_cookie_with_its_path(compat: Compat) -> None:
    client = compat.client(compat.app())
    client.post("/update_session", json={"foo": "bar"})
    header = set_cookie(client.post("/clear_session"))
    assert header.startswith("session_id=;")
    for part in ("Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT", "Path=/"):
        assert part in header


def test_flush_of_an_empty_session_without_cookie_sets_no_cookie(compat: Compat) -> None:
    response = compat.client(compat.app()).post("/logout")
    assert not set_cookie(response)


def test_accessed_session_varies_on_cookie(compat: Compat) -> None:
    client = compat.client(compat.app())
    response = client.post("/update_session", json={"hello": "world"})
    assert response.headers["vary"] == "Cookie"


def test_cookie_is_httponly_with_samesite_and_secure_from_settings(compat: Compat) -> None:
    app = compat.app(SESSION_COOKIE_SECURE="true", SESSION_COOKIE_SAMESITE="lax")
    header = set_cookie(compat.client(app).post("/update_session", json={"a": 1}))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header


def test_expiry_age_is_the_ttl(compat: Compat) -> None:
    client = compat.client(compat.app(SESSION_TTL_SECONDS="120"))
    client.post("/update_session", json={"a": 1})
    record = compat.store(lambda b: b.load(client.get("/id").json()["id"]))
    assert record is not None
    left = record.expiry_date - utcnow()
    assert timedelta(seconds=100) < left <= timedelta(seconds=120)
