"""Server-side web sessions for ASGI apps (SQLite, PostgreSQL, Redis, memory), revocable by user.

Lifecycle in one place:

* A request without a session cookie that does not write the session costs nothing: no
  database round trip, no ``Set-Cookie``.
* The first write creates a row (a fresh 256-bit id, never one the client sent) and sends a
  signed, ``HttpOnly``, ``SameSite=Strict`` cookie. Later writes update the row once, after the
  handler, and only if the row still exists: a session revoked meanwhile stays revoked.
* Activity (reads and writes alike) extends the inactivity expiry at most once per tenth of
  the TTL, so busy sessions stay alive, idle ones expire, and most requests change no index.
* Login calls ``request.session.cycle_id()`` (new id, old one dead); logout calls
  ``request.session.flush()``; "sign out everywhere" is
  ``service.clear_sessions_for_user(user_id)``, one indexed delete, also from the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

#: The package's version (its one source is ``_version.py``, which pyproject.toml reads
#: statically); ``session-service --version`` prints it.
from ._version import __version__ as __version__
from .backend import SessionStoreBackend
from .errors import (
    RateLimitExceeded,
    SessionConfigError,
    SessionDataError,
    SessionServiceError,
    SessionStoreUnavailable,
)
from .health import HealthReport
from .records import SessionRecord
from .settings import SessionSettings
from .stores.memory import MemorySessionStore
from .stores.protocol import SessionStore
from .stores.sql.postgres import PgSessionStore
from .stores.sql.sqlite import SqliteSessionStore

if TYPE_CHECKING:
    from .devices import SessionInfo
    from .service import DefaultSessionService
    from .stores.redis import RedisSessionStore
    from .web.middleware import SessionMiddleware
    from .web.session import Session, get_session

__all__ = [
    "DefaultSessionService",
    "HealthReport",
    "MemorySessionStore",
    "PgSessionStore",
    "RateLimitExceeded",
    "RedisSessionStore",
    "Session",
    "SessionConfigError",
    "SessionDataError",
    "SessionInfo",
    "SessionMiddleware",
    "SessionRecord",
    "SessionServiceError",
    "SessionSettings",
    "SessionStore",
    "SessionStoreBackend",
    "SessionStoreUnavailable",
    "SqliteSessionStore",
    "get_session",
]

_LAZY = {
    "DefaultSessionService": ".service",
    "SessionInfo": ".devices",
    "SessionMiddleware": ".web.middleware",
    "Session": ".web.session",
    "get_session": ".web.session",
    "RedisSessionStore": ".stores.redis",  # the optional `redis` extra
}


def __getattr__(name: str) -> Any:
    # The web layer imports Starlette; the CLI and the stores should not pay for it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
