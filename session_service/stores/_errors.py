"""Turn driver failures into :class:`SessionStoreUnavailable` with one readable line.

The line says which database (password masked) and why, in words an operator can act on
("connection refused", "the sessions table does not exist: run `session-service migrate`");
the driver's exception stays chained for logs and ``--debug``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from types import TracebackType

from sqlalchemy.exc import SQLAlchemyError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .._words import in_words
from ..errors import SessionDataError, SessionServiceError, SessionStoreUnavailable

try:  # asyncpg is a hard dependency, but keep the SQLite path importable without it.
    import asyncpg

    _DRIVER_ERRORS: tuple[type[BaseException], ...] = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        sqlite3.Error,
    )
except ImportError:  # pragma: no cover
    _DRIVER_ERRORS = (sqlite3.Error,)

_STORE_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    TimeoutError,
    *_DRIVER_ERRORS,
)


class StoreBusy(TimeoutError):
    """The database answered connections but not this request within
    ``SESSION_DB_TIMEOUT_SECONDS``: a lock held elsewhere, or every connection busy waiting on
    one. Reported as "busy (locked)", not as "cannot reach": the fix is to find the lock."""


class ConnectTimeout(TimeoutError):
    """No connection could be made within the timeout: the server is not answering at all."""


def _busy(root: BaseException, lowered: str) -> bool:
    """A wait on a lock or on the pool ran out of time, as opposed to an unreachable server.

    A bare ``TimeoutError`` is asyncpg's per-statement timeout unless it was raised while
    connecting (then the server is not answering at all).
    """
    if isinstance(root, StoreBusy | PoolTimeout) or "database is locked" in lowered:
        return True
    if type(root) is not TimeoutError:
        return False
    # asyncpg's connect timeout is ``asyncio.timeout``: the connecting frames are in the
    # traceback of the CancelledError it raised the TimeoutError from.
    for raised in (root, root.__cause__):
        tb = raised.__traceback__ if raised is not None else None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.endswith("connect_utils.py"):  # asyncpg connecting
                return False
            tb = tb.tb_next
    return True


def _root(exc: BaseException) -> BaseException:
    """The innermost cause of ``exc``: the driver's own error under SQLAlchemy's wrapper. A
    ``TimeoutError`` is the reason itself: ``asyncio.timeout`` raises it from the
    ``CancelledError`` it used to stop the wait, an empty message ("no details")."""
    seen = exc
    while True:
        nxt = getattr(seen, "orig", None) or seen.__cause__
        if nxt is None or nxt is seen or isinstance(nxt, asyncio.CancelledError):
            return seen
        seen = nxt


def describe(exc: BaseException) -> str:
    """A short, secret-free reason for a store failure."""
    root = _root(exc)
    text = in_words(root)
    lowered = text.lower()
    if isinstance(root, ConnectionRefusedError) or "connect call failed" in lowered:
        return "connection refused"
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return "the sessions table does not exist: run `session-service migrate`"
    if _busy(root, lowered):
        if isinstance(root, StoreBusy):
            return str(root)
        if "locked" in lowered:
            return "another connection holds the lock"
        return "no answer within SESSION_DB_TIMEOUT_SECONDS"
    if isinstance(root, TimeoutError) or "timeout" in lowered:
        return "timed out"
    if "readonly database" in lowered or "read-only" in lowered:
        return "the database file is read-only"
    if "unable to open database" in lowered:
        return "cannot open the database file (does its directory exist and is it writable?)"
    if "password authentication failed" in lowered:
        return "password authentication failed"
    if "does not exist" in lowered and "database" in lowered:
        return text
    return text


def unavailable(display_url: str, action: str, exc: BaseException) -> SessionStoreUnavailable:
    """The error to raise for ``exc``; the caller chains ``exc`` as its cause."""
    reason = describe(exc)
    root = _root(exc)
    text = str(root).lower()
    if _busy(root, text):
        return SessionStoreUnavailable(
            f"the session database at {display_url} is busy (locked): {reason}"
        )
    if isinstance(root, OSError | TimeoutError) or reason in ("connection refused", "timed out"):
        return SessionStoreUnavailable(
            f"cannot reach the session database at {display_url}: {reason}"
        )
    return SessionStoreUnavailable(
        f"the session database at {display_url} failed to {action}: {reason}"
    )


class translate_errors:
    """Re-raise store failures inside the block as :class:`SessionStoreUnavailable`.

    A class rather than ``@contextmanager``: it wraps every per-request statement, and a plain
    ``__enter__``/``__exit__`` costs a fraction of a generator-based context manager.
    """

    __slots__ = ("action", "display_url")

    def __init__(self, display_url: str, action: str) -> None:
        self.display_url = display_url
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, SessionServiceError):
            return
        if isinstance(exc, StatementError):
            if isinstance(exc.orig, SessionDataError):
                raise exc.orig from None
            raise unavailable(self.display_url, self.action, exc) from exc
        if isinstance(exc, _STORE_ERRORS):
            raise unavailable(self.display_url, self.action, exc) from exc
