"""Shared fixtures: every store test runs against a real SQLite file and a real PostgreSQL.

PostgreSQL comes from ``SESSION_TEST_PG_URL`` (any database on the server; each test gets a
fresh database of its own, dropped afterwards). When it is unset, a testcontainers PostgreSQL
is started if a Docker engine answers; otherwise the PostgreSQL half of the suite is skipped
with the reason, or fails when ``SESSION_TEST_REQUIRE_PG=1`` (as in CI).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from session_service import SessionStoreBackend
from session_service.settings import normalize_db_url
from session_service.stores.sql import SqlSessionStore

PG_ENV = "SESSION_TEST_PG_URL"
REQUIRE_ENV = "SESSION_TEST_REQUIRE_PG"
BACKENDS = ["sqlite", "postgres"]
PG_SKIP_REASON = "PostgreSQL tests need a server"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Report every "no PostgreSQL" skip at one place, so ``-ra`` prints the reason (and the
    command that enables them) once with a count, not once per test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and PG_SKIP_REASON in str(longrepr[2]):
        report.longrepr = (__file__, 0, longrepr[2])


def _docker_postgres() -> tuple[str | None, str, object | None]:
    """Start a throwaway PostgreSQL in Docker; (url, reason-if-not, container)."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:
        return None, f"no Docker engine answers ({type(exc).__name__})", None
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgres:17", driver=None)
    container.start()
    return container.get_connection_url(), "", container


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A URL of a PostgreSQL server the tests may create databases on."""
    url = os.environ.get(PG_ENV, "").strip()
    container = None
    if not url:
        found, why, container = _docker_postgres()
        if found is None:
            reason = (
                f"{PG_SKIP_REASON}: set {PG_ENV}=postgresql://user@host:port/db "
                f"or run a Docker engine for testcontainers ({why}); or run them all with "
                "`make test.session.all`"
            )
            if os.environ.get(REQUIRE_ENV) == "1":
                pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
            pytest.skip(reason)
        url = found
    try:
        yield normalize_db_url(url)[1]
    finally:
        if container is not None:
            container.stop()  # type: ignore[attr-defined]


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database(server_url: str) -> str:
    """Create an empty database on the server; returns its URL (asyncpg driver)."""
    name = f"sstest_{secrets.token_hex(6)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    server = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'sessions.sqlite'}"


@pytest.fixture(params=BACKENDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of ``store_kind``, private to this test."""
    if store_kind == "sqlite":
        yield sqlite_url(tmp_path)
        return
    server = request.getfixturevalue("pg_server_url")
    url = create_pg_database(server)
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def pg_db_url(pg_server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database (for the tests that are about PostgreSQL alone)."""
    url = create_pg_database(pg_server_url)
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
async def backend(db_url: str) -> AsyncIterator[SessionStoreBackend]:
    """A migrated backend on an empty database of each kind."""
    b = await SessionStoreBackend.connect(db_url)
    await b.migrate()
    try:
        yield b
    finally:
        await b.close()


def sql_engine(backend: SessionStoreBackend) -> AsyncEngine:
    """The SQLAlchemy engine of a SQL store (for the tests about SQL alone)."""
    store = backend.store
    assert isinstance(store, SqlSessionStore), f"not a SQL store: {store!r}"
    return store.engine
