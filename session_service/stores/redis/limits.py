"""Rate limits and counters on Redis: one Lua script per decision.

A limit's log is a list of the last ``limit`` allowed times (ms of the app clock, newest
first, so the decision reads fixed positions); a counter is an integer string. Scripts run
atomically on the server, so concurrent hits from any number of processes are decided one
after another. Keys expire on Redis's own
clock (a log ``window`` after its newest hit, a counter ``ttl`` after its creation); the
logged times, not the key's TTL, decide every hit.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import redis.exceptions

from ..._words import in_words
from ...errors import SessionStoreUnavailable
from ...limits.storage import MAX_LOG_ENTRIES, LimitParams, Window
from .pool import run_script

# KEYS[1] log (newest first), KEYS[2] its numbers (none on a cluster); ARGV kept entries, now,
# window (ms), the app's limit. An allowed hit writes "limit window_ms" to KEYS[2], expiring
# with the log.
# Returns "allowed counted oldest newest" (the Window; '-' for none) as one string: one line
# of reply to parse instead of five.
_HIT = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local since = tonumber(ARGV[2]) - tonumber(ARGV[3])
local oldest = redis.call('LINDEX', key, limit - 1)
if oldest and tonumber(oldest) > since then
  return '0 ' .. limit .. ' ' .. oldest .. ' ' .. redis.call('LINDEX', key, 0)
end
local stamp = ARGV[2]
local newest = redis.call('LINDEX', key, 0)
if newest and tonumber(newest) > tonumber(stamp) then stamp = newest end
redis.call('LPUSH', key, stamp)
redis.call('LTRIM', key, 0, limit - 1)
if redis.call('PTTL', key) < tonumber(ARGV[3]) then redis.call('PEXPIRE', key, ARGV[3]) end
if KEYS[2] then
  redis.call('SET', KEYS[2], ARGV[4] .. ' ' .. ARGV[3], 'PX', redis.call('PTTL', key))
end
local log = redis.call('LRANGE', key, 0, limit - 1)
local counted = 0
while counted < #log and tonumber(log[counted + 1]) > since do counted = counted + 1 end
return '1 ' .. counted .. ' ' .. (log[limit] or '-') .. ' ' .. stamp
"""

# KEYS[1] log, KEYS[2] its numbers; ARGV the expected entries, newest first. Deletes the list
# (and its numbers) only if it holds exactly those.
_RESET_IF = """
local log = redis.call('LRANGE', KEYS[1], 0, -1)
if #log ~= #ARGV then return 0 end
for i = 1, #ARGV do if log[i] ~= ARGV[i] then return 0 end end
if KEYS[2] then redis.call('DEL', KEYS[2]) end
return redis.call('DEL', KEYS[1])
"""

# KEYS[1] counter; ARGV amount, most (the live value may be at most this), ttl ms or ''.
# Lua's numbers are doubles, exact only up to 2**53, so nothing here goes through one: the
# value and ``most`` compare as decimal strings (both non-negative, without leading zeros:
# the longer is larger, equal lengths compare digit by digit), INCRBY adds as a 64-bit
# integer, and the total is read back as the string Redis keeps. Exact to 2**63 - 1.
_ADD = """
local v = redis.call('GET', KEYS[1])
local most = ARGV[2]
if v and (#v > #most or (#v == #most and v > most)) then return {0, v} end
redis.call('INCRBY', KEYS[1], ARGV[1])
if not v and ARGV[3] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {1, redis.call('GET', KEYS[1])}
"""

#: After a log's key, the key of its numbers (:meth:`RedisLimitStorage._params_key`).
PARAMS_SUFFIX = "\0n"

_GLOB = re.compile(r"([*?\[\]\\])")


def _int_or_none(value: bytes) -> int | None:
    return None if value == b"-" else int(value)


def _as_int(value: Any) -> int:
    return int(value) if value is not None else 0


@contextlib.contextmanager
def _unavailable(action: str) -> Iterator[None]:
    """Redis failures as :class:`SessionStoreUnavailable` (the 503 path), cause chained."""
    try:
        yield
    except (redis.exceptions.RedisError, OSError) as exc:
        reason = in_words(exc)
        raise SessionStoreUnavailable(f"the Redis store failed to {action}: {reason}") from exc


#: Runs a script: (client, sha, source, keys, args) -> the reply.
Runner = Callable[[Any, str, str, list[str], list[Any]], Awaitable[Any]]


class _Script:
    """A Lua script run by its SHA1 on whichever client is current (loaded on first miss)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis's script id

    async def __call__(
        self, client: Any, keys: list[str], args: list[Any], run: Runner | None = None
    ) -> Any:
        if run is not None:  # the store's own runner (a Redis Cluster's)
            return await run(client, self.sha, self.source, keys, args)
        # Straight on a pooled connection, never retried, as the session store's scripts.
        return await run_script(client.connection_pool, self.sha, self.source, keys, args)


_HIT_SCRIPT, _RESET_IF_SCRIPT, _ADD_SCRIPT = _Script(_HIT), _Script(_RESET_IF), _Script(_ADD)


class RedisLimitStorage:
    """Limits and counters under ``key_prefix`` (``limit:…`` and ``counter:…`` keys).

    ``client`` is a ``redis.asyncio.Redis``, or a function returning the current one (the
    Redis session store's client belongs to one event loop and is replaced for another).
    """

    def __init__(self, client: Any, key_prefix: str, *, run: Runner | None = None) -> None:
        self._get_client: Callable[[], Any] = client if callable(client) else lambda: client
        self._prefix = key_prefix
        self._run = run
        #: A log's numbers live in a key of their own, which a Redis Cluster would put in
        #: another slot than the log: on a cluster (``run``) they are not kept.
        self._keeps_params = run is None

    @property
    def _client(self) -> Any:
        return self._get_client()

    def _log_key(self, key: str) -> str:
        return f"{self._prefix}limit:{key}"

    def _keys(self, key: str) -> list[str]:
        """A log's key, and its numbers' key where they are kept."""
        log = self._log_key(key)
        return [log, log + PARAMS_SUFFIX] if self._keeps_params else [log]

    def _params_key(self, key: str) -> str:
        """Where a log's numbers live: its key and a NUL, which no app key holds (so no
        other key's log, and no ``delete_matching`` with a suffix, can name it)."""
        return f"{self._prefix}limit:{key}{PARAMS_SUFFIX}"

    def _counter_key(self, key: str) -> str:
        return f"{self._prefix}counter:{key}"

    async def hit(self, key: str, limit: int, window_ms: int, now: int) -> tuple[bool, Window]:
        # A limit past what a log keeps (as on SQL) also stays where Lua's numbers are exact.
        kept = min(limit, MAX_LOG_ENTRIES)
        with _unavailable("count a rate-limited hit"):
            reply = await _HIT_SCRIPT(
                self._client, self._keys(key), [kept, now, window_ms, limit], self._run
            )
        if isinstance(reply, str):  # a client made with decode_responses=True
            reply = reply.encode()
        allowed, counted, oldest, newest = reply.split()
        return allowed == b"1", Window(int(counted), _int_or_none(oldest), int(newest))

    async def log(self, key: str) -> list[int]:
        with _unavailable("read a rate limit"):
            log = await self._client.lrange(self._log_key(key), 0, -1)
        return [int(t) for t in reversed(log)]

    async def params(self, key: str) -> LimitParams | None:
        if not self._keeps_params:
            return None
        with _unavailable("read a rate limit"):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.exists(self._log_key(key))
                pipe.get(self._params_key(key))
                exists, raw = await pipe.execute()
        if not exists or raw is None:
            return None
        limit, window_ms = (raw.decode() if isinstance(raw, bytes) else raw).split()
        return LimitParams(int(limit), int(window_ms))

    async def reset(self, key: str) -> None:
        with _unavailable("reset a rate limit"):
            for doomed in self._keys(key):  # one key per command: a cluster's slots differ
                await self._client.delete(doomed)

    async def reset_if(self, key: str, log: list[int]) -> bool:
        with _unavailable("reset a rate limit"):
            keys = self._keys(key)
            return bool(await _RESET_IF_SCRIPT(self._client, keys, log[::-1], self._run))

    async def take_back(self, key: str) -> None:
        with _unavailable("take back a rate-limited hit"):
            await self._client.lpop(self._log_key(key))

    async def delete_matching(self, prefix: str, suffix: str) -> int:
        pattern = _GLOB.sub(r"\\\1", self._log_key(prefix)) + "*" + _GLOB.sub(r"\\\1", suffix)
        deleted = 0
        with _unavailable("clear rate limits"):
            async for found in self._client.scan_iter(match=pattern, count=1000):
                if PARAMS_SUFFIX.encode() in found:
                    continue  # a log's numbers: deleted with their log
                deleted += int(await self._client.delete(found))
                if self._keeps_params:
                    await self._client.delete(found + PARAMS_SUFFIX.encode())
        return deleted

    async def counter_add(
        self, key: str, amount: int, most: int, ttl_ms: int | None, now: int
    ) -> tuple[bool, int]:
        ttl = "" if ttl_ms is None else str(ttl_ms)
        with _unavailable("add to a counter"):
            applied, value = await _ADD_SCRIPT(
                self._client, [self._counter_key(key)], [amount, most, ttl], self._run
            )
        return bool(applied), _as_int(value)

    async def counter_get(self, key: str, now: int) -> int:
        with _unavailable("read a counter"):
            return _as_int(await self._client.get(self._counter_key(key)))

    async def counter_reset(self, key: str) -> None:
        with _unavailable("reset a counter"):
            await self._client.delete(self._counter_key(key))

    async def delete_expired(self, now: int) -> int:
        return 0  # Redis expires the keys itself
