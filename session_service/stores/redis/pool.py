"""A bounded redis-py connection pool that costs little per command.

redis-py's ``BlockingConnectionPool`` makes a command wait for a free connection instead of
failing beyond ``max_connections``, which a web app under a burst needs, but it takes an
``asyncio.Condition`` and arms a timer on every checkout (measured here: 57 µs of client CPU
per ``GET`` against 45 µs on the plain pool). :class:`BoundedConnectionPool` keeps the plain
pool's checkout and bounds it with a semaphore, so the wait (and its timer) happens only when
every connection is busy, and waiters are served first come, first served.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rx


class BoundedConnectionPool(aioredis.ConnectionPool):
    """At most ``max_connections`` connections; beyond that a command waits up to
    ``timeout`` seconds for one, then fails with ``ConnectionError`` (a 503 upstream)."""

    def __init__(self, *, max_connections: int, timeout: float, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._slots = asyncio.Semaphore(max_connections)
        self._slotted: set[Any] = set()  # connections handed out, each holding one slot
        self._wait = timeout

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._wait):
                    await self._slots.acquire()
            except TimeoutError:
                raise rx.ConnectionError("No connection available.") from None
        else:
            await self._slots.acquire()  # free: no wait, no timer
        try:
            connection = await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except BaseException:
            # The plain pool already released the connection it may have taken (through
            # ``release`` below, which frees no slot for it): free the slot taken here.
            self._slots.release()
            raise
        self._slotted.add(connection)
        return connection

    async def release(self, connection: Any) -> None:
        try:
            await super().release(connection)
        finally:
            if connection in self._slotted:
                self._slotted.discard(connection)
                self._slots.release()
