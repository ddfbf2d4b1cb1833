"""The FastAPI example works as its docstring says, on both backends."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _fresh_import(name: str) -> ModuleType:
    """Import an example anew: it reads the environment when imported, as an app does."""
    sys.modules.pop(name, None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(name)


async def test_fastapi_example_login_me_sign_out_everywhere(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_DB_URL", db_url)
    monkeypatch.setenv("SESSION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SESSION_SECRET_KEY", raising=False)
    example = _fresh_import("examples.fastapi_app")
    app = example.app
    async with app.router.lifespan_context(app):  # migrates, as the example's lifespan does
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://t") as laptop,
            httpx.AsyncClient(transport=transport, base_url="http://t") as phone,
        ):
            assert (await laptop.get("/me")).json() == {"session": {}}
            for client in (laptop, phone):
                assert (await client.post("/login/alice")).json() == {"signed_in": "alice"}
            assert (await laptop.get("/me")).json() == {"session": {"user_id": "alice"}}
            assert (await phone.post("/sign-out-everywhere")).json() == {"cleared": 2}
            assert (await laptop.get("/me")).json() == {"session": {}}
