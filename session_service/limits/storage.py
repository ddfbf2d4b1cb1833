"""What a store kind must offer the limits: a few small, atomic primitives.

The algorithms (sliding window, lockouts, capped counters) live above this, written once;
each storage only keeps, per key, the log of the last ``limit`` allowed hit times (ms, sorted)
and, per counter key, an integer with an optional expiry. Every primitive that decides is one
atomic step on its store: one SQL statement, one Redis script, or plain code with no ``await``
in between (memory).

The times are the app clock's milliseconds, passed in; a storage never reads a clock of its
own, except that Redis expires keys on its own clock (entries' times still decide).
"""

from __future__ import annotations

import bisect
import inspect
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..errors import SessionConfigError

#: The most times a log keeps (over 1 GB of SQL text beyond this): a larger ``limit`` is
#: stored as this many, on every store kind.
MAX_LOG_ENTRIES = 10**8


class Window(NamedTuple):
    """A key's log as a decision sees it at ``now``: how many logged times are after
    ``now - window``, the ``limit``-th newest time (``None`` with fewer) and the newest."""

    counted: int
    oldest: int | None
    newest: int | None


class LimitParams(NamedTuple):
    """The numbers the app passed with a key's latest allowed hit, kept by the store so an
    operator's ``limits show KEY`` needs no ``--limit``/``--window``."""

    limit: int
    window_ms: int


@runtime_checkable
class LimitParamsStorage(Protocol):
    """A storage that keeps each key's :class:`LimitParams` (every built-in one does; a
    storage of your own may leave it out, and ``limits show`` then asks for the numbers)."""

    async def params(self, key: str) -> LimitParams | None:
        """The limit and window of the key's latest allowed hit; ``None`` when the key has
        no log, or was logged by a version that did not keep them."""
        ...


def window_of(log: list[int], limit: int, window_ms: int, now: int) -> Window:
    """The :class:`Window` of a whole log (oldest first)."""
    counted = len(log) - bisect.bisect_right(log, now - window_ms)
    return Window(counted, log[-limit] if len(log) >= limit else None, log[-1] if log else None)


@runtime_checkable
class LimitStorage(Protocol):
    async def hit(self, key: str, limit: int, window_ms: int, now: int) -> tuple[bool, Window]:
        """Record ``now`` if fewer than ``limit`` logged times are after ``now - window_ms``
        (a time earlier than the newest logged one is logged as the newest, so the log stays
        sorted), keeping the newest ``limit``; a storage that is a :class:`LimitParamsStorage`
        keeps ``limit`` and ``window_ms`` with the log on an allowed hit. Returns (allowed,
        the :class:`Window` afterwards); a refused hit writes nothing."""
        ...

    async def log(self, key: str) -> list[int]:
        """The logged times, oldest first (``[]`` when there are none)."""
        ...

    async def reset(self, key: str) -> None: ...

    async def reset_if(self, key: str, log: list[int]) -> bool:
        """Delete the log only if it is still exactly ``log`` (compare and delete)."""
        ...

    async def take_back(self, key: str) -> None:
        """Drop the newest logged time (a booking that turned out not to count)."""
        ...

    async def delete_matching(self, prefix: str, suffix: str) -> int:
        """Delete the logs whose key starts with ``prefix`` and ends with ``suffix``."""
        ...

    async def counter_add(
        self, key: str, amount: int, most: int, ttl_ms: int | None, now: int
    ) -> tuple[bool, int]:
        """Add ``amount`` if the live value is ``<= most`` (so the total stays within the
        cap); ``ttl_ms`` sets the expiry only when the counter is (re)created. Returns
        (applied, the value afterwards)."""
        ...

    async def counter_get(self, key: str, now: int) -> int: ...

    async def counter_reset(self, key: str) -> None: ...

    async def delete_expired(self, now: int) -> int:
        """Delete logs and counters expired at ``now``; returns how many."""
        ...


def storage_for(store: Any) -> LimitStorage:
    """The limit storage a session store offers: every built-in store has a
    ``limit_storage()`` method; a store of your own may offer one too, or a ``limit_storage``
    attribute holding a :class:`LimitStorage`.

    Looked up on the store itself, never through a ``__getattr__`` that forwards to another
    store: a wrapper offers limits only if it says so.
    """
    if inspect.getattr_static(store, "limit_storage", None) is not None:
        own = store.limit_storage
        if callable(own) and not isinstance(own, LimitStorage):
            own = own()
        return own  # type: ignore[no-any-return]
    kind = getattr(store, "kind", None)
    raise SessionConfigError(
        f"the {kind!r} store has no storage for rate limits and counters: use a sqlite, "
        "postgres, redis or memory store, or give your store a `limit_storage` attribute "
        "(see session_service.limits.LimitStorage)"
    )


def encode_log(log: list[int]) -> str:
    """The SQL form of a log: fixed-width, zero-padded milliseconds, concatenated."""
    return "".join(f"{t:013d}" for t in log)


def decode_log(text: str | None) -> list[int]:
    if not text:
        return []
    return [int(text[i : i + 13]) for i in range(0, len(text), 13)]
