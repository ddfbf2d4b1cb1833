"""PostgreSQL's per-request driver: a private asyncpg pool of prepared, autocommit statements."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import asyncpg
from sqlalchemy.engine import make_url

from ....storable import check_aware
from ..._errors import ConnectTimeout, StoreBusy
from ..driver import Step
from ..engine import DEFAULT_TIMEOUT_SECONDS
from . import pooler
from .checkin import released_in_place
from .engine import OWNER_LOCK_CLASS, owner_lock_id


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

    duplicate: ClassVar[tuple[type[Exception], ...]] = (asyncpg.UniqueViolationError,)

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
        return await self._on_conn(
            lambda conn, unnamed, deadline: _run_prepared(conn, sql, args, fetch, unnamed, deadline)
        )

    async def _on_conn(self, work: Callable[[Any, bool, float], Awaitable[Any]]) -> Any:
        """``work`` (one statement, or one transaction) within the timeout, the wait for a
        pooled connection included: a bounded acquire, then asyncpg's per-call timeout with
        what is left (it cancels the statement on the server too). Behind an undetected
        transaction pooler the first "prepared statement" error switches to unnamed
        statements and retries once."""
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
                result = await work(conn, unnamed, deadline)
            except pooler.POOLER_ERRORS:
                if unnamed:
                    raise
                self.unnamed = True  # a transaction pooler: from now on, and retry once
                result = await work(conn, True, deadline)
        except BaseException as exc:
            # A statement that failed (or timed out, and is being cancelled on the server)
            # may hold the connection a while: bound that wait too.
            await pool.release(conn, timeout=self._timeout)
            if isinstance(exc, TimeoutError):
                raise self._busy() from None
            raise
        # A statement that succeeded leaves nothing to wait for: no timer (asyncio.timeout
        # costs microseconds on every statement), and usually no task (:mod:`.checkin`).
        if not released_in_place(pool, conn):
            await pool.release(conn)
        return result

    def _busy(self) -> StoreBusy:
        return StoreBusy(f"no answer within SESSION_DB_TIMEOUT_SECONDS ({self._timeout:g} s)")

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        row = await self._run(sql, args, True)
        return None if row is None else tuple(row)

    async def write_fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        """Run one write that returns a row (``… RETURNING``; the rate limits use it)."""
        return await self.fetchrow(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; returns the number of rows it changed."""
        status: str = await self._run(sql, args, False)
        return int(status.rsplit(" ", 1)[-1])

    async def transaction(self, steps: Sequence[Step], *, hold: str) -> list[int]:
        """``steps`` in one transaction on one pooled connection, each a prepared statement,
        after one round trip that opens it and takes the owner's transaction-scoped advisory
        lock (``BEGIN; SELECT pg_advisory_xact_lock(…)``, integers only); then ``COMMIT``.
        Under ``READ COMMITTED`` each step sees every write committed before the lock was
        granted. A transaction pooler keeps a transaction on one server connection."""
        begin = f"BEGIN; SELECT pg_advisory_xact_lock({OWNER_LOCK_CLASS}, {owner_lock_id(hold)})"
        return await self._on_conn(  # type: ignore[no-any-return]
            lambda conn, unnamed, deadline: _transaction(conn, begin, steps, unnamed, deadline)
        )

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
    # Prepared already, the usual case: no coroutine of its own (one per statement).
    stmt = conn.prepared_statement(sql, unnamed)
    if stmt is None:
        stmt = await conn.session_statement(sql, unnamed, max(deadline - loop.time(), 0.001))
    left = max(deadline - loop.time(), 0.001)
    if fetch:
        return await stmt.fetchrow(*args, timeout=left)
    await stmt.fetch(*args, timeout=left)
    return stmt.get_statusmsg()


async def _transaction(
    conn: Any, begin: str, steps: Sequence[Step], unnamed: bool, deadline: float
) -> list[int]:
    loop = asyncio.get_running_loop()
    await conn.execute(begin, timeout=max(deadline - loop.time(), 0.001))  # simple protocol
    try:
        counts = []
        for sql, args in steps:
            status = await _run_prepared(conn, sql, tuple(args), False, unnamed, deadline)
            counts.append(int(status.rsplit(" ", 1)[-1]))
        await conn.execute("COMMIT", timeout=max(deadline - loop.time(), 0.001))
    except BaseException:
        if not conn.is_closed() and conn.is_in_transaction():
            with contextlib.suppress(Exception):  # the error that got here is the one to see
                await conn.execute("ROLLBACK", timeout=max(deadline - loop.time(), 0.001))
        raise
    return counts
