"""Shared fixtures: every store test runs against a real SQLite file, a real PostgreSQL, a
real Redis, the in-memory store and a real Redis Cluster (one behavioural suite over five
store kinds).

PostgreSQL comes from ``SESSION_TEST_PG_URL`` (any database on the server; each test gets a
fresh database of its own, dropped afterwards). When it is unset, a testcontainers PostgreSQL
is started if a Docker engine answers; otherwise the PostgreSQL half of the suite is skipped
with the reason, or fails when ``SESSION_TEST_REQUIRE_PG=1`` (as in CI).

Redis comes from ``SESSION_TEST_REDIS_URL`` (skipped with the reason when unset, a failure with
``SESSION_TEST_REQUIRE_REDIS=1``). Each test gets its own key prefix, carried in the URL
(``?key_prefix=``) so every store and service built from it shares it; afterwards no key under
it may lack a TTL, and all of them are deleted. A memory test gets its own ``memory://NAME``.
A Redis Cluster test (``redis_cluster``) gets its own prefix on the cluster of the
``redis_cluster`` fixture, checked and deleted the same way on every primary.

``@pytest.mark.stores("sqlite", "postgres")`` limits a test (or module) to some kinds: the
tests about SQL alone (migrations, SQLite locking, advisory locks) say so with it.
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
from session_service.stores.memory import forget as forget_memory
from session_service.stores.sql import SqlSessionStore

PG_ENV = "SESSION_TEST_PG_URL"
REQUIRE_ENV = "SESSION_TEST_REQUIRE_PG"
REDIS_ENV = "SESSION_TEST_REDIS_URL"
REQUIRE_REDIS_ENV = "SESSION_TEST_REQUIRE_REDIS"
REQUIRE_CLUSTER_ENV = "SESSION_TEST_REQUIRE_REDIS_CLUSTER"
CLUSTER_URL_ENV = "SESSION_TEST_REDIS_CLUSTER_URL"
BACKENDS = ["sqlite", "postgres", "redis", "memory", "redis_cluster"]
SQL_BACKENDS = ["sqlite", "postgres"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stores(*kinds): run the test only on these store kinds (default: all)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``store_kind`` over every kind, or over the kinds the ``stores`` mark names
    (a test's own ``parametrize("store_kind", …)`` wins)."""
    if "store_kind" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if "store_kind" in (names.split(",") if isinstance(names, str) else names):
            return
    only = metafunc.definition.get_closest_marker("stores")
    kinds = list(only.args) if only is not None else BACKENDS
    metafunc.parametrize("store_kind", kinds)


#: The newest Alembic revision (what `migrate` brings a SQL database to).
SCHEMA_HEAD = "0010_notify_listeners"
PG_SKIP_REASON = "PostgreSQL tests need a server"
REDIS_SKIP_REASON = "Redis tests need a server"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Report every "no PostgreSQL" skip at one place, so ``-ra`` prints the reason (and the
    command that enables them) once with a count, not once per test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    longrepr = report.longrepr
    if (
        report.skipped
        and isinstance(longrepr, tuple)
        and any(why in str(longrepr[2]) for why in (PG_SKIP_REASON, REDIS_SKIP_REASON))
    ):
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


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    """The URL of a Redis server the tests may write keys to (each under its own prefix)."""
    url = os.environ.get(REDIS_ENV, "").strip()
    if not url:
        reason = (
            f"{REDIS_SKIP_REASON}: set {REDIS_ENV}=redis://host:port/0 "
            "(make test.deps.up starts one on 127.0.0.1:63790)"
        )
        if os.environ.get(REQUIRE_REDIS_ENV) == "1":
            pytest.fail(f"{REQUIRE_REDIS_ENV}=1 but {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[object]:
    """A Redis Cluster of 3 primaries and 3 replicas started for this test session
    (tests/support/redis_cluster.py), torn down afterwards, or the one
    ``SESSION_TEST_REDIS_CLUSTER_URL`` names (``make test.deps.up`` starts one in Docker on
    ports 7000-7005). Without either, the cluster tests skip with the reason;
    ``SESSION_TEST_REQUIRE_REDIS_CLUSTER=1`` fails them."""
    import shutil

    from .support.redis_cluster import external_cluster
    from .support.redis_cluster import redis_cluster as start

    if url := os.environ.get(CLUSTER_URL_ENV, "").strip():
        yield external_cluster(url)
        return
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        reason = (
            f"{REDIS_SKIP_REASON}: the Redis Cluster tests start a cluster from redis-server "
            "and redis-cli (Debian package `redis-server`), which are not installed"
        )
        if os.environ.get(REQUIRE_CLUSTER_ENV) == "1":
            pytest.fail(f"{REQUIRE_CLUSTER_ENV}=1 but {reason}")
        pytest.skip(reason)
    with start() as cluster:
        yield cluster


def redis_test_url(server_url: str) -> str:
    """``server_url`` with a fresh key prefix of its own (``?key_prefix=``)."""
    sep = "&" if "?" in server_url else "?"
    return f"{server_url}{sep}key_prefix=sstest_{secrets.token_hex(6)}:"


def redis_keys_without_ttl_then_delete(url: str) -> list[str]:
    """Every key under ``url``'s prefix that has no TTL (it must be none); then delete all."""
    import redis

    from session_service.stores.redis import RedisSessionStore

    prefix = RedisSessionStore(url).key_prefix
    base = url.split("?", 1)[0]
    client = redis.Redis.from_url(base)
    try:
        keys = list(client.scan_iter(match=prefix.replace("[", "\\[") + "*", count=1000))
        untimed = [k.decode() for k in keys if client.pttl(k) == -1]
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        return untimed
    finally:
        client.close()


@pytest.fixture
def db_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of ``store_kind``, private to this test."""
    if store_kind == "sqlite":
        yield sqlite_url(tmp_path)
        return
    if store_kind == "memory":
        url = f"memory://sstest_{secrets.token_hex(6)}"
        yield url
        forget_memory(url)
        return
    if store_kind == "redis_cluster":
        from .support.redis_cluster import cluster_keys_without_ttl_then_delete

        cluster = request.getfixturevalue("redis_cluster")
        url = redis_test_url(cluster.url)
        try:
            yield url
        finally:
            untimed = cluster_keys_without_ttl_then_delete(cluster, url.rpartition("=")[2])
        assert not untimed, f"keys left without a TTL: {untimed[:5]}"
        return
    if store_kind == "redis":
        url = redis_test_url(request.getfixturevalue("redis_server_url"))
        try:
            yield url
        finally:
            untimed = redis_keys_without_ttl_then_delete(url)
        assert not untimed, f"keys left without a TTL: {untimed[:5]}"
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


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> AsyncIterator[SessionStoreBackend]:
    """A migrated backend on a SQLite file of its own (the SQLite-only tests)."""
    b = await SessionStoreBackend.connect(sqlite_url(tmp_path))
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
