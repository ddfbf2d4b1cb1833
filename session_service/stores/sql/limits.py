"""Rate limits and counters on SQLite and PostgreSQL: one shared statement per decision.

A hit is one ``INSERT … ON CONFLICT (key) DO UPDATE … WHERE … RETURNING``, the same text on
both databases, run on the store's hot path (SQLite inline on the event loop, no thread hop,
unless the file is locked; PostgreSQL one prepared round trip). The ``WHERE`` of the update
is the decision: when it is false the row is left untouched and nothing is returned, so a
refused hit writes nothing. Concurrent hits on one key serialize on the row (PostgreSQL
re-checks the ``WHERE`` on the newest row version) or on the file's write lock (SQLite).

The log is text: the last ``limit`` allowed times as 13-digit, zero-padded milliseconds, so
"the oldest of the last ``limit``" and "the newest" are ``substr`` calls, and fixed-width
digits compare as text in time order on every collation. The portable SQL is spelled with
``CASE`` and ``substr`` only (no ``GREATEST``/``max``, no ``right``), which both dialects share.
"""

from __future__ import annotations

from ...limits.storage import (
    MAX_LOG_ENTRIES,
    LimitParams,
    Window,
    decode_log,
    encode_log,
    window_of,
)
from .._errors import translate_errors
from .driver import Driver
from .schema import counters_table, limits_table

_L = limits_table.name
_C = counters_table.name

# $1 key, $2 now (13 digits), $3 now + window (ms), $4 limit * 13 (chars), $5 now - window,
# $6 limit, $7 window (ms): the app's numbers, kept for ``limits show`` (revision 0007).
_OLD = f"{_L}.hits"
_NEWEST = f"substr({_OLD}, length({_OLD}) - 12)"
HIT_SQL = (
    f"INSERT INTO {_L} (key, hits, expires_at, limit_count, window_ms) "
    "VALUES ($1, $2, $3, $6, $7) "
    "ON CONFLICT (key) DO UPDATE SET "
    "limit_count = excluded.limit_count, window_ms = excluded.window_ms, "
    # the last limit - 1 entries, then now (or the newest, if the clock is behind it)
    f"hits = (CASE WHEN length({_OLD}) >= $4 THEN substr({_OLD}, length({_OLD}) - $4 + 14) "
    f"ELSE {_OLD} END) "
    f"|| (CASE WHEN excluded.hits >= {_NEWEST} THEN excluded.hits ELSE {_NEWEST} END), "
    f"expires_at = CASE WHEN excluded.expires_at > {_L}.expires_at THEN excluded.expires_at "
    f"ELSE {_L}.expires_at END "
    # allowed: fewer than limit entries, or the oldest of the last limit left the window
    f"WHERE (CASE WHEN length({_OLD}) < $4 THEN $5 "
    f"ELSE CAST(substr({_OLD}, length({_OLD}) - $4 + 1, 13) AS BIGINT) END) <= $5 "
    f"RETURNING {_L}.hits"
)
LOG_SQL = f"SELECT hits FROM {_L} WHERE key = $1"
PARAMS_SQL = f"SELECT limit_count, window_ms FROM {_L} WHERE key = $1"
RESET_SQL = f"DELETE FROM {_L} WHERE key = $1"
RESET_IF_SQL = f"DELETE FROM {_L} WHERE key = $1 AND hits = $2"
TAKE_BACK_SQL = (
    f"UPDATE {_L} SET hits = substr(hits, 1, length(hits) - 13) "
    "WHERE key = $1 AND length(hits) >= 13"
)
DELETE_MATCHING_SQL = f"DELETE FROM {_L} WHERE key LIKE $1 ESCAPE '\\'"

# $1 key, $2 amount, $3 expiry (ms) or NULL, $4 now, $5 the most the live value may be.
_EXPIRED = f"{_C}.expires_at <= $4"
ADD_SQL = (
    f"INSERT INTO {_C} (key, value, expires_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (key) DO UPDATE SET "
    f"value = CASE WHEN {_EXPIRED} THEN excluded.value ELSE {_C}.value + excluded.value END, "
    f"expires_at = CASE WHEN {_EXPIRED} THEN excluded.expires_at ELSE {_C}.expires_at END "
    f"WHERE (CASE WHEN {_EXPIRED} THEN 0 ELSE {_C}.value END) <= $5 "
    f"RETURNING {_C}.value"
)
GET_SQL = f"SELECT value FROM {_C} WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)"
COUNTER_RESET_SQL = f"DELETE FROM {_C} WHERE key = $1"


def _expired_sql(table: str) -> str:
    return (
        f"DELETE FROM {table} WHERE key IN "
        f"(SELECT key FROM {table} WHERE expires_at <= $1 LIMIT $2)"
    )


_EXPIRED_SQL = (_expired_sql(_L), _expired_sql(_C))
_BATCH = 5000


def _window_of_text(text: str, limit: int, window_ms: int, now: int) -> Window:
    """:func:`window_of` read straight off the stored text (no list of ints on the hot path):
    fixed-width digits compare as strings in time order, so a binary search finds the
    first time inside the window."""
    n = len(text) // 13
    oldest = int(text[(n - limit) * 13 : (n - limit + 1) * 13]) if n >= limit else None
    since = now - window_ms
    if since < 0:
        return Window(n, oldest, int(text[-13:]))
    edge = f"{since:013d}"
    lo, hi = 0, n
    while lo < hi:  # the first entry after ``since``
        mid = (lo + hi) // 2
        if text[mid * 13 : mid * 13 + 13] > edge:
            hi = mid
        else:
            lo = mid + 1
    return Window(n - lo, oldest, int(text[-13:]))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlLimitStorage:
    """The limits of a :class:`~session_service.stores.sql.SqlSessionStore`, on its hot path."""

    def __init__(self, hot: Driver, display_url: str) -> None:
        self._hot = hot
        self._url = display_url

    async def hit(self, key: str, limit: int, window_ms: int, now: int) -> tuple[bool, Window]:
        chars = min(limit, MAX_LOG_ENTRIES) * 13
        stamp = f"{now:013d}"
        with translate_errors(self._url, "count a rate-limited hit"):
            row = await self._hot.write_fetchrow(
                HIT_SQL, key, stamp, now + window_ms, chars, now - window_ms, limit, window_ms
            )
            if row is not None:
                return True, _window_of_text(row[0], limit, window_ms, now)
            return False, window_of(await self.log(key), limit, window_ms, now)

    async def log(self, key: str) -> list[int]:
        with translate_errors(self._url, "read a rate limit"):
            row = await self._hot.fetchrow(LOG_SQL, key)
        return [] if row is None else decode_log(row[0])

    async def params(self, key: str) -> LimitParams | None:
        with translate_errors(self._url, "read a rate limit"):
            row = await self._hot.fetchrow(PARAMS_SQL, key)
        if row is None or row[0] is None or row[1] is None:
            return None
        return LimitParams(int(row[0]), int(row[1]))

    async def reset(self, key: str) -> None:
        with translate_errors(self._url, "reset a rate limit"):
            await self._hot.execute(RESET_SQL, key)

    async def reset_if(self, key: str, log: list[int]) -> bool:
        with translate_errors(self._url, "reset a rate limit"):
            return bool(await self._hot.execute(RESET_IF_SQL, key, encode_log(log)))

    async def take_back(self, key: str) -> None:
        with translate_errors(self._url, "take back a rate-limited hit"):
            await self._hot.execute(TAKE_BACK_SQL, key)

    async def delete_matching(self, prefix: str, suffix: str) -> int:
        pattern = f"{_like_escape(prefix)}%{_like_escape(suffix)}"
        with translate_errors(self._url, "clear rate limits"):
            return await self._hot.execute(DELETE_MATCHING_SQL, pattern)

    async def counter_add(
        self, key: str, amount: int, most: int, ttl_ms: int | None, now: int
    ) -> tuple[bool, int]:
        expiry = None if ttl_ms is None else now + ttl_ms
        with translate_errors(self._url, "add to a counter"):
            row = await self._hot.write_fetchrow(ADD_SQL, key, amount, expiry, now, most)
            if row is not None:
                return True, int(row[0])
            return False, await self.counter_get(key, now)

    async def counter_get(self, key: str, now: int) -> int:
        with translate_errors(self._url, "read a counter"):
            row = await self._hot.fetchrow(GET_SQL, key, now)
        return 0 if row is None else int(row[0])

    async def counter_reset(self, key: str) -> None:
        with translate_errors(self._url, "reset a counter"):
            await self._hot.execute(COUNTER_RESET_SQL, key)

    async def delete_expired(self, now: int) -> int:
        """Delete expired rows in batches, each its own short statement (no long lock)."""
        total = 0
        with translate_errors(self._url, "delete expired rate limits and counters"):
            for sql in _EXPIRED_SQL:
                while True:
                    deleted = await self._hot.execute(sql, now, _BATCH)
                    total += deleted
                    if deleted < _BATCH:
                        break
        return total
