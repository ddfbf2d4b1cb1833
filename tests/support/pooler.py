"""App instances behind the PgBouncer of ``tests/stores/test_pooler.py`` (its ``pooled``
fixture: a fresh database, reached directly and through the pooler), for the tests that race
limited logins through it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from session_service import SessionStoreBackend


@contextlib.asynccontextmanager
async def limited_instances(
    pooled: tuple[str, str], max_per_user: int, count: int = 2
) -> AsyncIterator[list[SessionStoreBackend]]:
    """``count`` app instances through the pooler (``pooler="transaction"``) with
    ``max_per_user``; the schema is migrated over the direct URL first, as a deployment does
    (migrations take session-level locks a transaction pooler does not keep)."""
    direct, through = pooled
    setup = await SessionStoreBackend.connect(direct)
    await setup.migrate()
    await setup.close()
    instances = [SessionStoreBackend.from_url(through, pooler="transaction") for _ in range(count)]
    try:
        for backend in instances:
            backend.store.max_per_user = max_per_user  # type: ignore[attr-defined]
        yield instances
    finally:
        for backend in instances:
            await backend.close()
