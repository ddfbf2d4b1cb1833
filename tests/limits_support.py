"""Fixtures for the limits tests: a limit storage of every kind, and a clock tests move.

``limit_storage`` is one of the four storages on a real store: SQLite (a file), PostgreSQL
(a database of its own), Redis (``SESSION_TEST_REDIS_URL``, a key prefix of its own, deleted
afterwards) and memory.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from session_service import SessionStoreBackend
from session_service.limits import LimitStorage, storage_for
from session_service.limits.memory import MemoryLimitStorage
from session_service.limits.redis import RedisLimitStorage

from .conftest import sqlite_url

REDIS_ENV = "SESSION_TEST_REDIS_URL"
REQUIRE_REDIS_ENV = "SESSION_TEST_REQUIRE_REDIS"
STORAGE_KINDS = ["sqlite", "postgres", "redis", "memory"]


class FakeClock:
    """The app clock of a test: seconds, moved by hand."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def redis_url() -> str:
    url = os.environ.get(REDIS_ENV, "").strip()
    if not url:
        reason = f"Redis tests need {REDIS_ENV}=redis://host:port/db"
        if os.environ.get(REQUIRE_REDIS_ENV) == "1":
            pytest.fail(f"{REQUIRE_REDIS_ENV}=1 but {reason}")
        pytest.skip(reason)
    return url


def redis_client(url: str) -> Any:
    """A client as an app would hold one: a bounded pool that waits for a free connection."""
    import redis.asyncio

    pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=20, timeout=30)
    return redis.asyncio.Redis(connection_pool=pool)


async def delete_prefix(client: Any, prefix: str) -> None:
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        await client.delete(key)


async def sql_backend(url: str) -> SessionStoreBackend:
    backend = await SessionStoreBackend.connect(url)
    await backend.migrate()
    return backend


@pytest.fixture(params=STORAGE_KINDS)
def storage_kind_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(kind, URL): a SQLite file or a fresh PostgreSQL database; Redis's URL; memory."""
    kind = str(request.param)
    if kind == "sqlite":
        return kind, sqlite_url(tmp_path)
    if kind == "postgres":
        return kind, str(request.getfixturevalue("pg_db_url"))
    return kind, redis_url() if kind == "redis" else ""


@pytest.fixture
async def limit_storage(storage_kind_url: tuple[str, str]) -> AsyncIterator[LimitStorage]:
    kind, url = storage_kind_url
    if kind == "memory":
        yield MemoryLimitStorage()
        return
    if kind == "redis":
        client = redis_client(url)
        prefix = f"sstest:{secrets.token_hex(6)}:"
        try:
            yield RedisLimitStorage(client, prefix)
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()
        return
    backend = await sql_backend(url)
    try:
        yield storage_for(backend.store)
    finally:
        await backend.close()
