"""SQLite's group commit: the writes one event-loop iteration issues share one commit (issue 27).

In WAL mode with ``synchronous=NORMAL`` a commit does not fsync, yet it is most of an inline
write's cost: its locks on the ``-shm`` file and its frame writes, about 12 µs of CPU on the
benchmark machine against a few µs for an ``UPDATE`` inside a transaction, and the next read
pays two more lock calls to follow the grown WAL (benchmarks/ANALYSIS.md, "CPU per request
beside the rates, and where a SQLite write's CPU goes"). Under load many requests reach their
write in the same iteration of the loop, so each write is queued and the first schedules one
flush (``call_soon``) that runs them all in one ``BEGIN IMMEDIATE`` … ``COMMIT``.

What a caller may rely on is what autocommit gave it:

* its ``await`` returns only after the commit that holds its write (the flush settles the
  futures after ``COMMIT``; their callers run after the flush);
* its own result (count or rows) or its own exception, in issue order, as if each statement
  had run alone: if any statement of a batch fails (a busy file, a constraint, the login
  cap's trigger, anything), the batch is rolled back and its statements run one by one
  exactly as a lone write does (autocommit inline, the writer thread when locked), so none is
  lost and none applied twice;
* a batch of one runs as a lone write always did, without ``BEGIN`` and ``COMMIT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .driver import SqliteHotPath

#: What a write's future holds when its statement must take the writer thread (locked file,
#: pending checkpoint): the caller hops there itself, as a lone write does.
HOP: Any = object()

#: One queued write: its SQL (already in ``?NNN`` form), arguments, whether it returns rows,
#: and its caller's future.
_Write = tuple[str, tuple[Any, ...], bool, "asyncio.Future[Any]"]


class GroupCommit:
    """The queue of one driver's inline writes, flushed once per event-loop iteration.

    Used only by the thread that owns the inline path (``SqliteHotPath._elsewhere``); the
    flush runs on that thread's loop, on the inline connection, and nothing else runs on it
    between the flush's ``BEGIN IMMEDIATE`` and its ``COMMIT``."""

    __slots__ = ("_hot", "_queue", "_loop")

    def __init__(self, hot: SqliteHotPath) -> None:
        self._hot = hot
        self._queue: list[_Write] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def submit(self, sql: str, args: tuple[Any, ...], fetch: bool) -> asyncio.Future[Any]:
        """Queue one write; its future holds its result, or :data:`HOP`, after its commit."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        queue = self._queue
        if not queue or self._loop is not loop:
            if queue:  # queued on a loop that ended before its flush: that flush never runs
                queue = self._queue = []
            self._loop = loop
            loop.call_soon(self._flush, queue)
        queue.append((sql, args, fetch, future))
        return future

    def drain(self) -> None:
        """Run what is queued now (the driver closes: never reconnect after it)."""
        if self._queue:
            self._flush(self._queue)

    def _flush(self, batch: list[_Write]) -> None:
        if not batch:
            return  # drained already
        if batch is self._queue:
            self._queue = []  # writes issued from here on make the next batch
        hot = self._hot
        if hot._checkpoint_pending:  # requested since they queued: they queue behind it
            for write in batch:
                self._settle(write, HOP)
        elif len(batch) == 1 or not self._together(batch):
            self._one_by_one(batch)
        batch.clear()

    def _together(self, batch: list[_Write]) -> bool:
        """The whole batch in one transaction; ``False`` (rolled back) if anything failed."""
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
            return False
        hot._wrote(len(batch))
        for write, result in zip(batch, results, strict=True):
            self._settle(write, result)
        return True

    def _one_by_one(self, batch: list[_Write]) -> None:
        """Each statement as a lone write runs: inline in autocommit, :data:`HOP` when the
        file is locked or a checkpoint is pending, its own exception otherwise."""
        hot = self._hot
        for write in batch:
            sql, args, fetch, future = write
            if hot._checkpoint_pending:
                self._settle(write, HOP)
                continue
            try:
                cur = (hot._read_cursor or hot._inline_cursor()).execute(sql, args)
                result = cur.fetchall() if fetch else cur.rowcount
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    self._settle(write, HOP)
                    continue
                hot._forget_inline()
                _fail(future, exc)
                continue
            except Exception as exc:
                _fail(future, exc)
                continue
            hot._wrote(1)
            self._settle(write, result)

    def _settle(self, write: _Write, result: Any) -> None:
        sql, args, fetch, future = write
        if not future.done():
            future.set_result(result)
        elif result is HOP:  # its caller was cancelled; a lone write would still have run
            hot = self._hot
            deadline = time.monotonic() + hot._timeout
            hot._executor().submit(hot._in_writer, sql, args, fetch, deadline)


def _fail(future: asyncio.Future[Any], exc: Exception) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):  # its caller was cancelled
        future.set_exception(exc)
