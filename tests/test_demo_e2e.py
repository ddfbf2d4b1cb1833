"""The demo app under a real uvicorn process, driven over HTTP like a person would.

Runs on the embedded default (SQLite in a temporary SESSION_DATA_DIR) and, when a PostgreSQL
server is configured, on PostgreSQL too: login, "my sessions", sign out everywhere.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "SESSION_DATA_DIR": str(tmp_path / "data"),
        "SESSION_DB_URL": db_url,
    }
    env.pop("SESSION_SECRET_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.demo:app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:  # wait until the server answers (bounded), not a fixed sleep
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"demo did not start:\n{out}")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_demo_login_my_sessions_and_sign_out_everywhere(demo_url: str, tmp_path: Path) -> None:
    laptop = httpx.Client(base_url=demo_url, follow_redirects=True)
    phone = httpx.Client(base_url=demo_url, follow_redirects=True)
    with laptop, phone:
        assert "not signed in" in laptop.get("/").text
        for client in (laptop, phone):
            page = client.post("/login", data={"name": "Zoë <script>", "password": "demo"})
            assert "Signed in as <strong>Zoë &lt;script&gt;</strong>" in page.text
        cookie = laptop.cookies.get("session_id")
        assert cookie is not None
        sessions = laptop.get("/sessions").text
        assert "Sessions of Zoë &lt;script&gt;: 2" in sessions
        assert "(this one)" in sessions
        assert cookie.rsplit(".", 1)[0] not in sessions  # raw ids never shown
        after = phone.post("/sessions/revoke-all")
        assert "not signed in" in after.text
        assert "not signed in" in laptop.get("/").text  # the other device is signed out too
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600


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
        assert (
            client.post("/login", data={"name": "x" * 100, "password": "demo"}).status_code == 303
        )
