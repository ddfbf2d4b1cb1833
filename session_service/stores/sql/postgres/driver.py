"""PostgreSQL's per-request driver: a private asyncpg pool of prepared, autocommit statements."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from ....storable import check_aware
from ..._errors import ConnectTimeout, StoreBusy
from ..engine import DEFAULT_TIMEOUT_SECONDS
from . import pooler


async def _no_reset(conn: Any) -> None:
    """Pool release hook: hot statements leave no session state (asyncpg still rolls back any
    open transaction first), so skip the reset round trip."""


class PgHotPath:
    """A private asyncpg pool of prepared, autocommit statements (one round trip each).

    A pool belongs to the event loop that made it, so there is one per loop: a store used from
    a fresh ``asyncio.run`` (or ``TestClient`` without ``with``) opens a new pool, and the pool
    of a loop that has been closed is dropped without touching it (its transports need that
    loop even to close; the garbage collector closes their sockets).

    ``unnamed`` is set behind a transaction pooler: given (``SESSION_DB_POOLER=transaction``)
    or on the first error that shows one (see :mod:`.pooler`).
    """

    def __init__(
        self,
        url: str,
        max_size: int = 20,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        unnamed: bool = False,
    ) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._max = max_size
        self._timeout = timeout
        self.unnamed = unnamed
        self._pool: Any = None  # the pool of the loop that used the store last (fast path)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[asyncio.AbstractEventLoop, asyncio.Task[Any]] = {}

    def ts(self, value: datetime) -> Any:  # timestamptz takes aware datetimes as they are
        return check_aware(value)

    def parse_ts(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value if value.tzinfo is UTC else value.astimezone(UTC)  # asyncpg gives UTC

    def now_ts(self) -> Any:
        """``ts(utcnow())``: the current time as a statement parameter."""
        return datetime.now(UTC)

    async def _get_pool(self) -> Any:
        loop = asyncio.get_running_loop()
        self._forget_closed_loops()
        creating = self._pools.get(loop)
        if creating is None:
            creating = self._pools[loop] = loop.create_task(self._create())
        try:
            pool = await asyncio.shield(creating)
        except BaseException:
            if creating.done() and self._pools.get(loop) is creating:
                del self._pools[loop]  # failed (server down): the next call tries again
            raise
        self._pool, self._loop = pool, loop
        return pool

    async def _create(self) -> Any:
        return await asyncpg.create_pool(
            self._dsn,
            min_size=0,  # no background reconnect attempts (and tracebacks) while PG is down
            max_size=self._max,
            reset=_no_reset,
            connect=pooler.connect,
            connection_class=pooler.PgConnection,
            timeout=self._timeout,  # fail fast when the server is down: the middleware answers 503
            command_timeout=self._timeout,
        )

    def _forget_closed_loops(self) -> None:
        for loop in [loop for loop in self._pools if loop.is_closed()]:
            del self._pools[loop]
        if self._loop is not None and self._loop.is_closed():
            self._pool, self._loop = None, None

    def _ready_pool(self) -> Any:
        """The pool, if it exists and belongs to the running loop (else ``None``)."""
        return self._pool if self._loop is asyncio.get_running_loop() else None

    async def _run(self, sql: str, args: tuple[Any, ...], fetch: bool) -> Any:
        """One statement within the timeout, the wait for a pooled connection included: a
        bounded acquire, then asyncpg's per-call timeout with what is left (it cancels the
        statement on the server too). Behind an undetected transaction pooler the first
        "prepared statement" error switches to unnamed statements and retries once."""
        pool = self._ready_pool() or await self._get_pool()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        try:
            if pool._queue.qsize():  # asyncpg's idle connections: none to wait for (a
                # connect, if that one was closed, is bounded by the pool's timeout), so no
                # timer: ``asyncio.timeout`` costs ~8 µs, ``acquire(timeout=)`` twice that
                # (a ``wait_for`` task per statement).
                conn = await pool.acquire()
            else:
                async with asyncio.timeout_at(deadline):
                    conn = await pool.acquire()
        except TimeoutError:
            if pool.get_size() == 0:  # never connected: the server is not answering at all
                raise ConnectTimeout(f"no connection within {self._timeout:g} s") from None
            raise self._busy() from None
        try:
            unnamed = self.unnamed
            try:
                # _run_prepared written out (a coroutine less per statement) for the usual
                # case, a statement this connection has prepared already.
                stmt = conn.ready_statement(sql, unnamed)
                if stmt is None:
                    result = await _run_prepared(conn, sql, args, fetch, unnamed, deadline)
                elif fetch:
                    result = await stmt.fetchrow(*args, timeout=max(deadline - loop.time(), 1e-3))
                else:
                    await stmt.fetch(*args, timeout=max(deadline - loop.time(), 1e-3))
                    result = stmt.get_statusmsg()
            except pooler.POOLER_ERRORS:
                if unnamed:
                    raise
                self.unnamed = True  # a transaction pooler: from now on, and retry once
                result = await _run_prepared(conn, sql, args, fetch, True, deadline)
        except BaseException as exc:
            # A statement that failed (or timed out, and is being cancelled on the server)
            # may hold the connection a while: bound that wait too.
            await pool.release(conn, timeout=self._timeout)
            if isinstance(exc, TimeoutError):
                raise self._busy() from None
            raise
        # A statement that succeeded leaves nothing to wait for: no timer (asyncio.timeout
        # costs microseconds on every statement).
        await pool.release(conn)
        if fetch:
            return None if result is None else tuple(result)
        return int(result.rsplit(" ", 1)[-1])

    def _busy(self) -> StoreBusy:
        return StoreBusy(f"no answer within SESSION_DB_TIMEOUT_SECONDS ({self._timeout:g} s)")

    # The three below are plain functions returning ``_run``'s coroutine: every request runs
    # one or two statements, and a coroutine layer less is one frame less on each resume.

    def fetchrow(self, sql: str, *args: Any) -> Coroutine[Any, Any, tuple[Any, ...] | None]:
        """One row (as a tuple), or ``None``."""
        return self._run(sql, args, True)

    def write_fetchrow(self, sql: str, *args: Any) -> Coroutine[Any, Any, tuple[Any, ...] | None]:
        """Run one write that returns a row (``… RETURNING``; the rate limits use it)."""
        return self._run(sql, args, True)

    def execute(self, sql: str, *args: Any) -> Coroutine[Any, Any, int]:
        """Run one statement; returns the number of rows it changed."""
        return self._run(sql, args, False)

    async def close(self) -> None:
        running = asyncio.get_running_loop()
        pools, self._pools = self._pools, {}
        self._pool, self._loop = None, None
        for loop, creating in pools.items():
            if loop.is_closed() or not creating.done() or creating.cancelled():
                continue  # dropped, or still being made (that loop's own business)
            if creating.exception() is not None:
                continue
            pool = creating.result()
            if loop is running:
                await pool.close()
            else:  # another thread's loop: only that loop may touch its pool
                loop.call_soon_threadsafe(pool.terminate)


async def _run_prepared(
    conn: Any, sql: str, args: tuple[Any, ...], fetch: bool, unnamed: bool, deadline: float
) -> Any:
    """``sql`` on ``conn`` by ``deadline`` (loop time): its first row, or (``fetch=False``) its
    status line."""
    loop = asyncio.get_running_loop()
    stmt = await conn.session_statement(sql, unnamed, max(deadline - loop.time(), 0.001))
    left = max(deadline - loop.time(), 0.001)
    if fetch:
        return await stmt.fetchrow(*args, timeout=left)
    await stmt.fetch(*args, timeout=left)
    return stmt.get_statusmsg()
