"""Test support for the read cache (``SESSION_CACHE=local``): two cached stores on one
database, as two processes would hold them (each with its own channel and connection), and
a record of what each one heard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from session_service import SessionRecord, SessionStoreBackend
from session_service.cache import CachedSessionStore
from session_service.records import new_session_id, utcnow
from session_service.settings import SessionSettings

SECRET = "c" * 40
#: The longest a test waits for a notification (a bound against hanging, not a threshold).
WAIT = 10.0


def cache_settings(url: str, **env: str) -> SessionSettings:
    return SessionSettings.from_env(
        {"SESSION_DB_URL": url, "SESSION_CACHE": "local", "SESSION_SECRET_KEY": SECRET, **env}
    )


def cached(url: str, **env: str) -> CachedSessionStore:
    store = SessionStoreBackend.from_settings(cache_settings(url, **env)).store
    assert isinstance(store, CachedSessionStore)
    return store


class Heard:
    """Every revocation a cached store heard, and a way to wait for the next ones."""

    def __init__(self, store: CachedSessionStore) -> None:
        self.keys: list[list[str]] = []
        self._waiters: list[asyncio.Future[None]] = []
        store.cache.on_revoke.append(self._heard)

    def _heard(self, keys: Iterable[str]) -> None:
        self.keys.append(list(keys))
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def until(self, key: str) -> None:
        """Wait until a revocation naming ``key`` (or ``*``) was heard (10 s at most)."""
        async with asyncio.timeout(WAIT):
            while not any(key in keys or "*" in keys for keys in self.keys):
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter


async def state_change(store: CachedSessionStore, listening: bool, *, next: bool = False) -> None:
    """Wait until the store's channel reports ``listening`` (``next``: a report yet to come,
    even if it is in that state now)."""
    loop = asyncio.get_running_loop()
    changed: asyncio.Future[None] = loop.create_future()

    def seen(state: bool) -> None:
        if state is listening and not changed.done():
            changed.set_result(None)

    store.cache.on_state.append(seen)
    try:
        if next or store.cache.listening is not listening:
            async with asyncio.timeout(WAIT):
                await changed
    finally:
        store.cache.on_state.remove(seen)


@asynccontextmanager
async def two_processes(
    url: str, **env: str
) -> AsyncIterator[tuple[CachedSessionStore, CachedSessionStore]]:
    """Two migrated cached stores on ``url``, both listening."""
    a, b = cached(url, **env), cached(url, **env)
    await a.migrate()
    try:
        async with asyncio.timeout(10):
            await a.wait_listening()
            await b.wait_listening()
        yield a, b
    finally:
        await a.close()
        await b.close()


def record(user: str | None = None, tenant: str | None = None, **data: Any) -> SessionRecord:
    if user is not None:
        data["user_id"] = user
    return SessionRecord(new_session_id(), data, utcnow() + timedelta(hours=1), tenant_id=tenant)


def count_loads(store: CachedSessionStore) -> list[str]:
    """The ids the inner store is asked to load from now on (an instance attribute over the
    store's own method, for this test only)."""
    asked: list[str] = []
    inner: Any = store.inner
    real = inner.load

    async def load(session_id: str) -> Any:
        asked.append(session_id)
        return await real(session_id)

    inner.load = load
    return asked
