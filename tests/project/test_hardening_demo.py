"""The demo's sign-in with the store down says the service is unavailable, not that the
name is locked (a right password would otherwise read as "Too many failed sign-ins")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ..limits.test_web import _fresh_import

DOWN_URLS = {
    "postgres": "postgresql://nobody:pw@127.0.0.1:1/none",
    "redis": "redis://127.0.0.1:1/0",
}


@pytest.fixture(params=sorted(DOWN_URLS))
def demo_on_a_down_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("SESSION_DB_URL", DOWN_URLS[request.param])
    monkeypatch.setenv("SESSION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SESSION_SECRET_KEY", raising=False)
    with TestClient(_fresh_import("examples.demo").app) as client:
        yield client


def test_demo_sign_in_with_the_store_down_says_unavailable(
    demo_on_a_down_store: TestClient,
) -> None:
    for password in ("demo", "nope"):
        page = demo_on_a_down_store.post("/login", data={"name": "Ada", "password": password})
        assert page.status_code == 503
        assert "Sign-in is unavailable right now" in page.text
        assert "Too many failed sign-ins" not in page.text
        assert "Wrong password" not in page.text
