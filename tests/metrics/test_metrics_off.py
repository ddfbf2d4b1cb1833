"""Without metrics (``SESSION_METRICS=false``, or without the ``otel`` extra) a service has
no metrics object, its store none either (each hook is one ``is not None``), and nothing of
OpenTelemetry is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from session_service import DefaultSessionService, SessionStoreBackend
from session_service.metrics import metrics_for, otel_installed

from ..support.webapp import settings_for

#: Serves one request of each kind through the middleware on a memory store, then reports
#: whether anything of OpenTelemetry was imported. ``BLOCK`` hides the package (no extra).
_PROGRAM = textwrap.dedent(
    """
    import asyncio, sys
    if BLOCK:
        sys.modules["opentelemetry"] = None  # an import of it fails, as without the extra
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from session_service import DefaultSessionService, SessionSettings

    settings = SessionSettings.from_env({
        "SESSION_DB_URL": "memory://off", "SESSION_SECRET_KEY": "k" * 40, "SESSION_METRICS": ENV,
    })
    service = DefaultSessionService(None, settings)

    async def write(request):
        request.session["a"] = 1
        return PlainTextResponse("ok")

    async def main():
        app = Starlette(routes=[Route("/", write)], middleware=[service.session_layer()])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/")).status_code == 200
            assert (await client.get("/")).status_code == 200
        assert service.metrics is None and service.get_session_store().store._metrics is None
        print(sorted(m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v))

    asyncio.run(main())
    """
)


@pytest.mark.parametrize(
    ("block", "env"), [(True, "true"), (False, "false")], ids=["no-extra", "turned-off"]
)
def test_without_metrics_nothing_is_imported(block: bool, env: str, tmp_path: Path) -> None:
    program = f"BLOCK, ENV = {block!r}, {env!r}\n" + _PROGRAM
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


async def test_turned_off_the_service_and_store_have_no_metrics(
    backend: SessionStoreBackend, db_url: str, tmp_path: Path, store_kind: str
) -> None:
    settings = settings_for(db_url, str(tmp_path), SESSION_METRICS="false")
    service = DefaultSessionService(backend, settings)
    assert service.metrics is None
    assert getattr(backend.store, "_metrics", None) is None
    assert metrics_for(backend.store, settings) is None


def test_otel_installed_says_whether_the_api_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    assert otel_installed()  # a dev dependency
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.metrics", None)
    assert not otel_installed()
