"""Rate limits and counters in process memory, for the memory store (tests, one process).

Each decision is plain code with no ``await`` inside, under a lock (``TestClient`` runs the
app on another thread), so it is atomic. The state belongs to the store's space: stores opened
on one ``memory://`` URL share their limits as they share their sessions, and
``stores.memory.forget(url)`` drops both.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ...limits.storage import LimitParams, Window, window_of

_BY_STORE: weakref.WeakKeyDictionary[Any, MemoryLimitStorage] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def memory_storage_of(space: Any) -> MemoryLimitStorage:
    """The one storage of a sessions space (made on first use)."""
    with _LOCK:
        storage = _BY_STORE.get(space)
        if storage is None:
            storage = _BY_STORE[space] = MemoryLimitStorage()
    return storage


class MemoryLimitStorage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, tuple[list[int], int]] = {}  # key -> (log, expires_at)
        self._counters: dict[str, tuple[int, int | None]] = {}  # key -> (value, expires_at)
        self._params: dict[str, LimitParams] = {}  # key -> the latest allowed hit's numbers

    async def hit(self, key: str, limit: int, window_ms: int, now: int) -> tuple[bool, Window]:
        with self._lock:
            log, expires_at = self._logs.get(key, ([], 0))
            if len(log) >= limit and log[-limit] > now - window_ms:
                return False, window_of(log, limit, window_ms, now)
            stamp = max(now, log[-1]) if log else now
            log = [*log[len(log) - limit + 1 :], stamp] if len(log) >= limit else [*log, stamp]
            self._logs[key] = (log, max(expires_at, now + window_ms))
            self._params[key] = LimitParams(limit, window_ms)
            return True, window_of(log, limit, window_ms, now)

    async def log(self, key: str) -> list[int]:
        with self._lock:
            return list(self._logs.get(key, ([], 0))[0])

    async def params(self, key: str) -> LimitParams | None:
        with self._lock:
            return self._params.get(key) if key in self._logs else None

    async def reset(self, key: str) -> None:
        with self._lock:
            self._logs.pop(key, None)
            self._params.pop(key, None)

    async def reset_if(self, key: str, log: list[int]) -> bool:
        with self._lock:
            if key in self._logs and self._logs[key][0] == log:
                del self._logs[key]
                self._params.pop(key, None)
                return True
            return False

    async def take_back(self, key: str) -> None:
        with self._lock:
            entry = self._logs.get(key)
            if entry is not None and entry[0]:
                self._logs[key] = (entry[0][:-1], entry[1])

    async def delete_matching(self, prefix: str, suffix: str) -> int:
        with self._lock:
            doomed = [
                k
                for k in self._logs
                if k.startswith(prefix) and k.endswith(suffix) and len(k) >= len(prefix + suffix)
            ]
            for k in doomed:
                del self._logs[k]
                self._params.pop(k, None)
            return len(doomed)

    def _live_value(self, key: str, now: int) -> int | None:
        entry = self._counters.get(key)
        if entry is None or (entry[1] is not None and entry[1] <= now):
            return None
        return entry[0]

    async def counter_add(
        self, key: str, amount: int, most: int, ttl_ms: int | None, now: int
    ) -> tuple[bool, int]:
        with self._lock:
            value = self._live_value(key, now)
            if (value or 0) > most:
                return False, value or 0
            if value is None:
                self._counters[key] = (amount, None if ttl_ms is None else now + ttl_ms)
                return True, amount
            self._counters[key] = (value + amount, self._counters[key][1])
            return True, value + amount

    async def counter_get(self, key: str, now: int) -> int:
        with self._lock:
            return self._live_value(key, now) or 0

    async def counter_reset(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)

    async def delete_expired(self, now: int) -> int:
        with self._lock:
            logs = [k for k, (_, expires_at) in self._logs.items() if expires_at <= now]
            counters = [k for k, (_, e) in self._counters.items() if e is not None and e <= now]
            for k in logs:
                del self._logs[k]
                self._params.pop(k, None)
            for k in counters:
                del self._counters[k]
            return len(logs) + len(counters)
