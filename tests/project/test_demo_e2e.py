"""The demo app under a real uvicorn process, driven over HTTP like a person would.

Runs on the embedded default (SQLite in a temporary SESSION_DATA_DIR) and, when a PostgreSQL
server is configured, on PostgreSQL too: login, "my sessions", sign out everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..support.demo_server import run_demo


@pytest.fixture
def demo_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    with run_demo(db_url, tmp_path / "data") as base:
        yield base


SIGN_IN_FORM = 'action="/login"'


def test_demo_login_my_sessions_and_sign_out_everywhere(demo_url: str, tmp_path: Path) -> None:
    laptop = httpx.Client(base_url=demo_url, follow_redirects=True)
    phone = httpx.Client(base_url=demo_url, follow_redirects=True)
    with laptop, phone:
        page = laptop.get("/")
        assert SIGN_IN_FORM in page.text and "<code>demo</code>" in page.text
        wrong = laptop.post("/login", data={"name": "zoë", "password": "guess"})
        assert wrong.status_code == 401 and SIGN_IN_FORM in wrong.text
        assert laptop.post("/login", data={"name": "zoë"}).status_code == 401
        for client in (laptop, phone):
            page = client.post("/login", data={"name": "Zoë <script>", "password": "demo"})
            assert "Signed in as <strong>Zoë &lt;script&gt;</strong>" in page.text
        cookie = laptop.cookies.get("session_id")
        assert cookie is not None
        sessions = laptop.get("/sessions").text
        assert "signed in as <strong>Zoë &lt;script&gt;</strong> on 2" in sessions
        assert sessions.count("This device") == 1
        assert sessions.count("127.0.0.1") == 2  # the demo tracks devices
        assert cookie.rsplit(".", 1)[0] not in sessions  # raw ids never shown
        after = phone.post("/sessions/revoke-all")
        assert SIGN_IN_FORM in after.text
        assert SIGN_IN_FORM in laptop.get("/").text  # the other device is signed out too
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_demo_signs_out_one_device_by_its_handle(demo_url: str) -> None:
    clients = [httpx.Client(base_url=demo_url, follow_redirects=True) for _ in range(3)]
    laptop, phone, tablet = clients
    try:
        for client in clients:
            client.post("/login", data={"name": "ann", "password": "demo"})
        other = httpx.Client(base_url=demo_url, follow_redirects=True)
        other.post("/login", data={"name": "bob", "password": "demo"})
        bobs_page = other.get("/sessions").text
        bobs_handle = bobs_page.split('data-handle="', 1)[1].split('"', 1)[0]
        page = laptop.post("/sessions/revoke", data={"handle": bobs_handle}).text
        assert "Signed out 0 devices." in page  # another user's handle: nothing happens
        assert "Your devices" in other.get("/sessions").text
        handles = [h.split('"', 1)[0] for h in page.split('name="handle" value="')[1:]]
        assert len(handles) == 2  # a "Sign out" button on every other device
        page = laptop.post("/sessions/revoke", data={"handle": handles[0]}).text
        assert "Signed out 1 device." in page
        assert page.count("<li ") == 2
        signed_out = [c for c in (phone, tablet) if SIGN_IN_FORM in c.get("/").text]
        assert len(signed_out) == 1
        other.close()
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_demo_refuses_a_bad_name_on_the_page(demo_url: str) -> None:
    with httpx.Client(base_url=demo_url) as client:
        for name, why in [
            ("x" * 101, "at most 100 characters"),
            ("a\x00b", "control characters"),
            ("tab\there", "control characters"),
            ("   ", "A name is required"),
        ]:
            page = client.post("/login", data={"name": name})
            assert page.status_code == 400 and why in page.text, (name, page.text)
            assert "session_id" not in client.cookies
        data = {"name": "x" * 100, "password": "demo"}
        assert client.post("/login", data=data).status_code == 303
