"""SQLite's group commit: the writes one event-loop iteration issues share one commit (issue 27).

In WAL mode with ``synchronous=NORMAL`` a commit does not fsync, yet it is most of an inline
write's cost: its locks on the ``-shm`` file and its frame writes, about 12 µs of CPU on the
benchmark machine against a few µs for an ``UPDATE`` inside a transaction, and the next read
pays two more lock calls to follow the grown WAL (benchmarks/ANALYSIS.md, "CPU per request
beside the rates, and where a SQLite write's CPU goes"). Under load many requests reach their
write in the same iteration of the loop. The first write of an iteration leads: it lets the
loop run once (``sleep(0)``: the other ready tasks reach their writes and queue them behind
it), then runs the queue in one ``BEGIN IMMEDIATE`` … ``COMMIT`` and hands each queued caller
its result through a future. A lone write pays that one yield, no future.

What a caller may rely on is what autocommit gave it:

* its ``await`` returns only after the commit that holds its write (the futures are
  settled after ``COMMIT``, and their callers run after the flush);
* its own result (count or rows) or its own exception, in issue order, as if each statement
  had run alone: if any statement of a batch fails (a busy file, a constraint, the login
  cap's trigger, anything), the batch is rolled back and its statements run one by one
  exactly as a lone write does (autocommit inline, the writer thread when locked), so none is
  lost and none applied twice;
* a batch of one runs as a lone write always did, without ``BEGIN`` and ``COMMIT``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .driver import SqliteHotPath

#: What a write returns when its statement must take the writer thread (locked file, pending
#: checkpoint): the caller hops there itself, as a lone write does.
HOP: Any = object()

#: One queued write: its SQL (already in ``?NNN`` form), arguments, whether it returns rows,
#: and its caller's future (``None``: the leader's own, which it returns itself).
_Write = tuple[str, tuple[Any, ...], bool, "asyncio.Future[Any] | None"]


class _Raised:
    """A statement's own exception, kept for its caller."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


class GroupCommit:
    """The queue of one driver's inline writes, run once per event-loop iteration.

    Used only by the thread that owns the inline path (``SqliteHotPath._elsewhere``); the
    batch runs on that thread's loop, on the inline connection, and nothing else runs on it
    between its ``BEGIN IMMEDIATE`` and its ``COMMIT``."""

    __slots__ = ("_hot", "_queue", "_loop")

    def __init__(self, hot: SqliteHotPath) -> None:
        self._hot = hot
        self._queue: list[_Write] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def write(self, sql: str, args: tuple[Any, ...], fetch: bool) -> Any:
        """One write: its count or rows, or :data:`HOP`; its own exception if it failed."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:  # not the iteration's first: queued for its one commit
            future = loop.create_future()
            self._queue.append((sql, args, fetch, future))
            return await future
        self._loop = loop  # the iteration's first: alone, at once, as it always ran
        loop.call_soon(self._next_iteration)
        outcome = self._one_by_one([(sql, args, fetch, None)])[0]
        if type(outcome) is _Raised:
            raise outcome.exc
        return outcome

    def _next_iteration(self) -> None:
        """The writes queued since the iteration's first, in one commit."""
        self._loop = None
        if self._queue:
            self._run(self._queue)

    def _run(self, batch: list[_Write]) -> Any:
        """The batch, each queued caller settled; the leader's own outcome."""
        if batch is self._queue:
            self._queue = []  # writes issued from here on make the next batch
        hot = self._hot
        if hot._checkpoint_pending:  # requested since they queued: they queue behind it
            outcomes = [HOP] * len(batch)
        elif len(batch) == 1 or (outcomes := self._together(batch)) is None:
            outcomes = self._one_by_one(batch)
        for (sql, args, fetch, future), outcome in zip(batch, outcomes, strict=True):
            if future is None:
                pass  # the leader's
            elif future.done():  # its caller was cancelled
                if outcome is HOP:
                    self._abandoned(sql, args, fetch)
            elif type(outcome) is _Raised:
                future.set_exception(outcome.exc)
            else:
                future.set_result(outcome)
        batch.clear()
        return outcomes[0]

    def _together(self, batch: list[_Write]) -> list[Any] | None:
        """The whole batch in one transaction; ``None`` (rolled back) if anything failed."""
        hot = self._hot
        try:
            cur = hot._read_cursor or hot._inline_cursor()
            cur.execute("BEGIN IMMEDIATE")
            results = []
            for sql, args, fetch, _ in batch:
                cur.execute(sql, args)
                results.append(cur.fetchall() if fetch else cur.rowcount)
            cur.execute("COMMIT")
        except Exception:
            conn = hot._reader
            if conn is not None and conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    hot._forget_inline()  # never leave a transaction open on it
            return None
        hot._wrote(len(batch))
        return results

    def _one_by_one(self, batch: list[_Write]) -> list[Any]:
        """Each statement as a lone write runs: inline in autocommit, :data:`HOP` when the
        file is locked or a checkpoint is pending, its own exception otherwise."""
        hot = self._hot
        outcomes: list[Any] = []
        for sql, args, fetch, _ in batch:
            if hot._checkpoint_pending:
                outcomes.append(HOP)
                continue
            try:
                cur = (hot._read_cursor or hot._inline_cursor()).execute(sql, args)
                outcomes.append(cur.fetchall() if fetch else cur.rowcount)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    outcomes.append(HOP)
                    continue
                hot._forget_inline()
                outcomes.append(_Raised(exc))
                continue
            except Exception as exc:
                outcomes.append(_Raised(exc))
                continue
            hot._wrote(1)
        return outcomes

    def _abandoned(self, sql: str, args: tuple[Any, ...], fetch: bool) -> None:
        """A write whose caller was cancelled before it hopped: the writer thread runs it."""
        hot = self._hot
        hot._executor().submit(hot._in_writer, sql, args, fetch, time.monotonic() + hot._timeout)
