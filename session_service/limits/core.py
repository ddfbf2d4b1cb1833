"""``service.limits`` (exact sliding window) and ``service.counters`` (capped integers).

The rule, the same on every store: a hit at ``now`` is allowed when fewer than ``limit``
allowed hits of the key happened in ``(now - window, now]``. The storage keeps the last
``limit`` allowed times of each key and decides in one atomic step; everything else (the
numbers a caller sees, validation, the clock) is here, written once.

Why a log, not a counter: GCRA and sliding-window counters approximate the rule and let
bursts through (GCRA at 3 per 2 s admits 5 hits within [0 s, 2 s)); fixed windows admit twice
the limit across a window edge. A log of ``limit`` times is exact and costs O(limit) per key.
"""

from __future__ import annotations

import logging

from ..errors import RateLimitExceeded, SessionStoreUnavailable
from ._checks import MAX_INT, Clock, check_count, check_key, check_seconds, now_ms, wall_clock
from .results import CounterResult, RateLimitResult
from .storage import LimitStorage, Window, window_of

logger = logging.getLogger("session_service")


def result_of(allowed: bool, w: Window, limit: int, window_ms: int, now: int) -> RateLimitResult:
    """What a caller sees, from the key's :class:`Window` at ``now``."""
    retry = 0 if allowed or w.oldest is None else w.oldest + window_ms - now
    reset = w.newest + window_ms - now if w.counted and w.newest is not None else 0
    remaining = limit - w.counted
    return RateLimitResult(
        allowed, limit, max(remaining, 0), max(retry, 0) / 1000, max(reset, 0) / 1000
    )


def would_allow(w: Window, window_ms: int, now: int) -> bool:
    return w.oldest is None or w.oldest <= now - window_ms


class RateLimiter:
    """``service.limits``: exact sliding-window limits across every process sharing a store.

    ``limit`` is a whole number of hits (1 .. 2**63 - 1), ``window`` seconds (int or float,
    more than 0). Bad keys and numbers raise :class:`SessionDataError` before any I/O; a
    store outage raises :class:`SessionStoreUnavailable` (503 in the middleware), unless
    the call says ``fail_open=True``: then the hit is allowed, uncounted, ``degraded=True``,
    and one line is logged (without the key).
    """

    def __init__(self, storage: LimitStorage, clock: Clock = wall_clock) -> None:
        self.storage = storage
        self.clock = clock

    def _args(self, key: str, limit: int, window: float) -> tuple[int, int]:
        check_key(key)
        return check_count("limit", limit), check_seconds("window", window)

    async def hit(
        self, key: str, *, limit: int, window: float, fail_open: bool = False
    ) -> RateLimitResult:
        """Count one hit if it is allowed; a refused hit counts nothing and moves nothing.

        ``fail_open=True`` keeps a path serving through a store outage: the hit is allowed
        and the result says ``degraded=True`` (bad input still raises)."""
        limit, window_ms = self._args(key, limit, window)
        now = now_ms(self.clock)
        try:
            allowed, window_now = await self.storage.hit(key, limit, window_ms, now)
        except SessionStoreUnavailable as exc:
            if not fail_open:
                raise
            logger.warning("rate limit hit allowed uncounted (fail_open): %s", exc)
            return RateLimitResult(True, limit, limit, 0.0, 0.0, True)
        return result_of(allowed, window_now, limit, window_ms, now)

    async def peek(self, key: str, *, limit: int, window: float) -> RateLimitResult:
        """What a hit would get now, counting nothing."""
        limit, window_ms = self._args(key, limit, window)
        now = now_ms(self.clock)
        w = window_of(await self.storage.log(key), limit, window_ms, now)
        return result_of(would_allow(w, window_ms, now), w, limit, window_ms, now)

    async def reset(self, key: str) -> None:
        """Forget every hit of ``key``."""
        await self.storage.reset(check_key(key))

    async def enforce(
        self, key: str, *, limit: int, window: float, fail_open: bool = False
    ) -> RateLimitResult:
        """:meth:`hit`, raising :class:`RateLimitExceeded` (a 429 in the middleware) if refused."""
        result = await self.hit(key, limit=limit, window=window, fail_open=fail_open)
        if not result.allowed:
            raise RateLimitExceeded(result)
        return result

    async def delete_expired(self) -> int:
        """Delete logs and counters whose time is over (the session cleanup calls this)."""
        return await self.storage.delete_expired(now_ms(self.clock))


class Counters:
    """``service.counters``: integers per key (money in its smallest unit), with a cap that
    concurrent adds never overshoot and an expiry set when the counter is created."""

    def __init__(self, storage: LimitStorage, clock: Clock = wall_clock) -> None:
        self.storage = storage
        self.clock = clock

    async def add(
        self,
        key: str,
        amount: int,
        ttl: float | None = None,
        cap: int | None = None,
        *,
        fail_open: bool = False,
    ) -> CounterResult:
        """Add ``amount`` (1 .. 2**63 - 1); with ``cap``, only if the total stays ``<= cap``.
        Totals are exact up to 2**63 - 1; an add past that is not applied (as past a cap).

        ``ttl`` (seconds) sets the expiry when the counter is created (or re-created after it
        expired); later adds never move it. Returns whether it was added, and the value.
        With ``fail_open=True`` a store outage applies nothing and returns ``degraded=True``
        instead of raising :class:`SessionStoreUnavailable` (bad input still raises).
        """
        check_key(key)
        check_count("amount", amount)
        ttl_ms = None if ttl is None else check_seconds("ttl", ttl)
        most = MAX_INT if cap is None else check_count("cap", cap, minimum=0)
        now = now_ms(self.clock)
        try:
            if amount > most:
                return CounterResult(False, await self.storage.counter_get(key, now))
            applied, value = await self.storage.counter_add(key, amount, most - amount, ttl_ms, now)
        except SessionStoreUnavailable as exc:
            if not fail_open:
                raise
            logger.warning("counter add not applied (fail_open): %s", exc)
            return CounterResult(False, 0, True)
        return CounterResult(applied, value)

    async def get(self, key: str) -> int:
        """The value, 0 when absent or expired."""
        return await self.storage.counter_get(check_key(key), now_ms(self.clock))

    async def reset(self, key: str) -> None:
        """Delete the counter: the next ``add`` starts from 0 with a new ``ttl``."""
        await self.storage.counter_reset(check_key(key))
