"""PostgreSQL's SQLAlchemy engine (admin calls, logins, migrations, cleanup) and lock keys."""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..engine import DEFAULT_TIMEOUT_SECONDS

#: PostgreSQL advisory lock keys (arbitrary constants, unique to this library).
MIGRATION_LOCK_KEY = 0x5E55_0001
CLEANUP_LOCK_KEY = 0x5E55_0002
#: The first key of the two-key advisory locks of ``SESSION_MAX_PER_USER`` (the second is a
#: hash of the tenant and user); two-key locks never collide with the one-key locks above.
OWNER_LOCK_CLASS = 0x5E55_0003


def owner_lock_id(owner: str) -> int:
    """The second key of an owner's lock: a stable signed 32-bit hash of
    :func:`~..._per_user.owner_key`, the same in every process, computed here so that a
    login can take the lock in the round trip that opens its transaction (an integer
    literal, never text from a request). Two owners whose names hash alike only wait for
    each other."""
    h = zlib.crc32(owner.encode())
    return h - (1 << 32) if h >= 1 << 31 else h


def make_engine(
    url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, **overrides: Any
) -> AsyncEngine:
    """An async engine tuned for session traffic. Opens no connection yet.

    ``timeout`` bounds every wait: the connect, the pool checkout and each statement (asyncpg
    cancels a statement that runs out of time on the server).
    """
    options: dict[str, Any] = {
        # The engine serves admin calls, logins (rotate), migrations and the cleanup; the
        # per-request statements use the hot path's own pool (up to 20). Keeping this one
        # small keeps a process within ~30 connections of PostgreSQL's max_connections.
        "pool_size": 3,
        "max_overflow": 7,
        # Checking a pooled connection first costs little there and keeps "sign out
        # everywhere" from failing once on a connection left dead by a database restart.
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "pool_timeout": timeout,
        # Fail fast when the server is down or stalled so the middleware answers 503
        # promptly (not server_settings: PgBouncer refuses unknown startup parameters).
        # No prepared statement outlives its statement (unnamed ones, parsed again with
        # every run), so the engine works through any transaction pooler without having
        # to detect one: it serves rare calls, where that costs one round trip each.
        "connect_args": {
            "timeout": timeout,
            "command_timeout": timeout,
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
        },
    }
    options.update(overrides)
    return create_async_engine(url, **options)
