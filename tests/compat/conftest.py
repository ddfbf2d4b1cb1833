"""Fixtures for the compatibility suite.

``compat`` builds a migrated service on the test's store and hands out ``TestClient``s in the
two ways upstream suites use them: inside ``with TestClient(app)`` (one event loop and the
app's lifespan for the whole client) and without it (every request runs on a fresh event loop,
as in Starlette's and starsessions' own tests).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from session_service import DefaultSessionService, SessionStoreBackend
from session_service.web.middleware import TenantResolver

from ..support.webapp import settings_for
from .app import routes

T = TypeVar("T")

CLIENT_MODES = ["with", "without"]


class Compat:
    """One test's service, apps and clients (closed at teardown)."""

    def __init__(self, db_url: str, data_dir: Path, mode: str) -> None:
        self.db_url = db_url
        self.data_dir = data_dir
        self.mode = mode
        self._stack = contextlib.ExitStack()
        self._services: list[DefaultSessionService] = []

    def service(self, **settings: str) -> DefaultSessionService:
        """A service on the test's store (migrated), configured by ``SESSION_*`` settings."""
        settings.setdefault("SESSION_CLEANUP_INTERVAL_SECONDS", "0")
        service = DefaultSessionService(
            self.db_url, settings_for(self.db_url, str(self.data_dir), **settings)
        )

        async def migrate() -> None:
            try:
                await service.migrate()
            finally:
                await service.close()

        asyncio.run(migrate())
        self._services.append(service)
        return service

    def app(
        self,
        service: DefaultSessionService | None = None,
        tenant_resolver: TenantResolver | None = None,
        **settings: str,
    ) -> Starlette:
        service = service if service is not None else self.service(**settings)
        app = Starlette(
            routes=routes(),
            middleware=[service.session_layer(tenant_resolver)],
            lifespan=service.lifespan,
        )
        app.state.service = service
        return app

    def client(self, app: Starlette, **kwargs: Any) -> TestClient:
        """A test client, entered (``with``) or not according to the test's mode."""
        client = TestClient(app, **kwargs)
        if self.mode == "with":
            self._stack.enter_context(client)
        return client

    def store(self, call: Callable[[SessionStoreBackend], Awaitable[T]]) -> T:
        """Run ``call`` on a backend of its own (its own loop), to look at the store directly."""

        async def run() -> T:
            backend = await SessionStoreBackend.connect(self.db_url)
            try:
                return await call(backend)
            finally:
                await backend.close()

        return asyncio.run(run())

    def close(self) -> None:
        self._stack.close()  # "with" clients: their lifespan closes their service
        if self.mode == "without":
            for service in self._services:
                asyncio.run(service.close())


@pytest.fixture(params=CLIENT_MODES)
def client_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def compat(db_url: str, tmp_path: Path, client_mode: str) -> Iterator[Compat]:
    c = Compat(db_url, tmp_path, client_mode)
    try:
        yield c
    finally:
        c.close()


def set_cookie(response: Any) -> str:
    """The ``Set-Cookie`` header of a response, or ``""``."""
    return str(response.headers.get("set-cookie", ""))
