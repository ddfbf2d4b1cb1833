"""SQLite's per-request driver: statements inline on the event loop, a writer thread when locked."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ClassVar

from ....storable import check_aware
from ..._errors import StoreBusy
from ..driver import Step
from ..engine import DEFAULT_TIMEOUT_SECONDS
from .connection import (
    close_quietly,
    is_busy,
    log_checkpoint_failure,
    qmark,
    run_setup,
    run_statement,
    run_transaction,
)
from .engine import create_private_file, enable_wal

#: The length of the text ``SqliteHotPath.ts`` writes ("2026-01-31 23:59:59.123456").
_TS_LENGTH = 26
#: Inline SQLite writes between two checkpoints (run on the writer thread, never inline).
SQLITE_CHECKPOINT_EVERY = 1000
#: Inline statements in a row before the hot path lets other tasks run (see ``_fair``).
SQLITE_YIELD_EVERY = 16
#: Bytes a WAL file is cut back to when it starts over (it is reused, not shrunk, otherwise).
SQLITE_WAL_SIZE_LIMIT = 64 * 1024 * 1024


class SqliteHotPath:
    """Every statement is first tried inline, on a stdlib connection whose ``busy_timeout`` is
    0, so it can never wait on a lock and never blocks the event loop for more than the
    statement itself (tens of µs: a primary-key lookup or one WAL append, no fsync with
    ``synchronous=NORMAL``). A statement that finds the file locked (another process or the
    writer thread is writing, WAL recovery) is retried on one writer thread, which may wait up
    to the busy timeout. Checkpoints, which fsync, also run on that thread: the inline
    connection has automatic checkpoints off and asks the thread for one every
    :data:`SQLITE_CHECKPOINT_EVERY` writes."""

    duplicate: ClassVar[tuple[type[Exception], ...]] = (sqlite3.IntegrityError,)

    def __init__(self, path: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._path = path
        self._timeout = timeout
        self._reader: sqlite3.Connection | None = None
        self._read_cursor: sqlite3.Cursor | None = None  # every inline statement's, on ``_reader``
        self._writer: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._since_checkpoint = 0
        self._checkpoint_pending = False
        self._inline_run = 0
        self._second = -1  # now_ts(): the second whose text is cached
        self._second_text = ""  # that second as text, with the "." after it
        self._setup: tuple[str, ...] = ()  # see ``set_setup``
        self._writer_setup: tuple[str, ...] = ()  # what the writer's connection has run
        #: The thread whose event loop runs statements inline (see ``_elsewhere``).
        self._owner_ident = -1
        self._owner: threading.Thread | None = None
        self._takeover = threading.Lock()  # taking ownership, and making the writer thread

    def ts(self, value: datetime) -> Any:  # SQLite keeps naive-UTC ISO text
        if value.tzinfo is not UTC:  # the library's own timestamps are UTC already
            value = check_aware(value).astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")

    def parse_ts(self, value: Any) -> datetime:
        if isinstance(value, str) and len(value) == _TS_LENGTH:
            # What ts() writes: naive UTC with microseconds. Appending the offset is several
            # times cheaper than datetime.replace(tzinfo=UTC) (a keyword call).
            try:
                return datetime.fromisoformat(value + "+00:00")
            except ValueError:
                pass  # 26 characters, but some other spelling: the general path below
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(parsed, datetime)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def now_ts(self) -> Any:
        """``ts(utcnow())``, about three times cheaper: ``isoformat`` with a ``timespec`` and
        ``replace`` dominate ``ts``, so the text of the current second is formatted once per
        second and only the microseconds per call. Those with ``%``, not an f-string's
        ``:06d``: ``format`` looks the spec up through ``int.__format__`` and costs about
        2,000 instructions, ``%06d`` (which truncates a float as ``int()`` does) a few hundred;
        every load and every write pays it (issue 27)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S.", time.gmtime(second))
            self._second = second
        micro = (now - second) * 1_000_000
        return self._second_text + "%06d" % micro  # noqa: UP031 - no spec lookup (above)

    def set_setup(self, statements: tuple[str, ...]) -> None:
        """Statements every connection of this driver runs once, before its first statement
        (and again after a reconnect): per-connection state such as a TEMP trigger. The
        inline connection runs them now; the writer's runs them on the writer thread before
        its next statement, so no statement of this driver runs without them."""
        self._setup = statements
        if self._reader is not None:
            try:
                run_setup(self._reader, statements)
            except sqlite3.Error:
                self._forget_inline()  # the next statement connects afresh, and runs them

    def _connect(self, busy_ms: int) -> sqlite3.Connection:
        create_private_file(self._path)
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        # Per connection: in WAL mode NORMAL syncs only at checkpoints, FULL on every commit.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA journal_size_limit = {SQLITE_WAL_SIZE_LIMIT}")
        return conn

    def _elsewhere(self) -> bool:
        """Whether this thread must leave the inline connection alone (its statement then
        takes the writer thread, as a locked one does).

        One store can serve event loops in several threads at once (Starlette's
        ``TestClient`` runs a client opened without ``with`` on a loop and thread of its own,
        beside one that keeps its loop; an app may run loops in threads). The inline
        connection's one reused cursor, and a transaction run inline between its
        ``BEGIN IMMEDIATE`` and ``COMMIT``, belong to one thread at a time: a second thread on
        the same cursor fails ("Recursive use of cursors") or crashes the interpreter. So the
        first thread to run a statement owns the inline path; another thread takes it over
        only once the owner has ended (a finished ``TestClient`` portal, an ended
        ``asyncio.run`` in another thread), and until then its statements hop to the writer
        thread, which serializes them on its own connection."""
        ident = threading.get_ident()
        if ident == self._owner_ident:  # (``_run`` and ``fetchrow`` ask this before the call)
            return False
        with self._takeover:  # two threads finding no owner at once: one of them owns it
            owner = self._owner
            if owner is not None and owner.is_alive():
                return True
            self._owner_ident, self._owner = ident, threading.current_thread()
            return False

    def _inline(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = self._connect(0)  # never wait on the event loop
            self._reader.execute("PRAGMA wal_autocheckpoint = 0")
            # No memory map (0, whatever the build's default), although it makes a lookup in
            # a big file a few us cheaper (1M sessions: 16.6 vs 21.6 us): whenever another
            # connection has committed (a delete_expired batch, a write on the writer thread,
            # another worker process), SQLite unmaps this connection's whole map at the start
            # of its next read (pagerBeginReadTransaction), and unmapping a 175 MB map cost
            # 3-6 ms of CPU on the event loop, twice per cleanup batch.
            self._reader.execute("PRAGMA mmap_size = 0")
            try:
                run_setup(self._reader, self._setup)
            except sqlite3.Error:
                self._forget_inline()  # never a connection without its setup
                raise
        return self._reader

    def _inline_cursor(self) -> sqlite3.Cursor:
        """One cursor on the inline connection, for every inline statement (``fetchrow`` and
        ``_run``): ``Connection.execute`` makes (and registers, and frees) a cursor per call.
        Reusing it holds nothing between calls: ``fetchall()`` steps a read to its end, and a
        write runs to its end in ``execute``, which resets the statement and ends its
        transaction, so the next statement starts from the file as it is then."""
        if self._read_cursor is None:
            self._read_cursor = self._inline().cursor()
        return self._read_cursor

    def _checkpoint(self) -> None:
        # RESTART, not PASSIVE: it takes the write lock for its few milliseconds, so it always
        # catches up and the next write starts the WAL over. A PASSIVE checkpoint racing a
        # steady stream of inline writes never catches up, and the WAL grows without bound.
        try:
            conn = self._write_conn()
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute("PRAGMA wal_checkpoint(RESTART)")
        finally:
            self._checkpoint_pending = False

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread is None:
            with self._takeover:  # one writer thread, whichever thread's loop asks first
                if self._thread is None:
                    self._thread = ThreadPoolExecutor(
                        1, thread_name_prefix="session_service-sqlite"
                    )
        return self._thread

    def _request_checkpoint(self) -> None:
        self._since_checkpoint = 0
        # Until it has run, writes queue behind it on the writer thread instead of running
        # inline: inline writes take the lock between two of its busy retries and could
        # starve it for thousands of writes (the WAL then grows by ~12 KB a write).
        self._checkpoint_pending = True
        future = self._executor().submit(self._checkpoint)
        # A failed checkpoint is harmless (the next one catches up); don't let it go unseen.
        future.add_done_callback(log_checkpoint_failure)

    def _write_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = self._connect(int(self._timeout * 1000))
            enable_wal(self._writer.execute)
            self._writer_setup = ()
        if self._writer_setup is not self._setup:  # on the writer thread: see ``set_setup``
            setup = self._setup
            run_setup(self._writer, setup)
            self._writer_setup = setup
        return self._writer

    def _in_writer(
        self, sql: str, args: tuple[Any, ...], fetch: bool | None, deadline: float
    ) -> Any:
        return self._work_in_writer(lambda conn: run_statement(conn, sql, args, fetch), deadline)

    def _work_in_writer(self, work: Callable[[sqlite3.Connection], Any], deadline: float) -> Any:
        """One statement on the writer thread, within what is left of the caller's timeout:
        the time spent queued behind other writes counts, so a queue of writes behind a lock
        all fail by their deadline instead of waiting one busy timeout each."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreBusy(f"no answer within SESSION_DB_TIMEOUT_SECONDS ({self._timeout:g} s)")
        try:
            writer = self._write_conn()
            writer.execute(f"PRAGMA busy_timeout = {max(int(left * 1000), 1)}")
            return work(writer)
        except sqlite3.Error:
            conn, self._writer = self._writer, None
            close_quietly(conn)
            raise

    def _forget_inline(self) -> None:
        """Drop the inline connection after a failure other than a lock.

        SQLite opens a file it cannot write read-only, and the connection stays read-only
        after the file is writable again (or its directory is back): only a fresh connection
        sees the file as it is now, so the store recovers without a restart.
        """
        conn, self._reader, self._read_cursor = self._reader, None, None
        close_quietly(conn)

    async def _hop(self, sql: str, args: tuple[Any, ...], fetch: bool | None) -> Any:
        loop, deadline = asyncio.get_running_loop(), time.monotonic() + self._timeout
        return await loop.run_in_executor(
            self._executor(), self._in_writer, sql, args, fetch, deadline
        )

    def _fair(self) -> bool:
        """Whether to suspend now: once every :data:`SQLITE_YIELD_EVERY` inline statements.

        An inline statement never suspends, so without this a task that loops over ``load``
        (a background job, a cache warmer) would hold the event loop for as long as it loops.
        A plain function the callers follow with ``await asyncio.sleep(0)``: one coroutine
        less per statement.
        """
        self._inline_run += 1
        if self._inline_run < SQLITE_YIELD_EVERY:
            return False
        self._inline_run = 0
        return True

    async def _run(
        self, sql: str, args: tuple[Any, ...], fetch: bool | None, write: bool | None = None
    ) -> Any:
        """One statement inline, or on the writer thread when it would have to wait.

        ``write`` (default: ``not fetch``) says whether it writes, so that a write returning
        rows is counted towards the checkpoint and queues behind a pending one too. ``fetch``
        ``None``: a write, and the rows it and its triggers changed
        (:func:`.connection.run_statement`).
        """
        if write is None:
            write = not fetch
        if self._fair():
            await asyncio.sleep(0)
        if self._owner_ident != threading.get_ident() and self._elsewhere():
            return await self._hop(sql, args, fetch)  # another thread's loop owns the inline path
        if write and self._checkpoint_pending:
            return await self._hop(sql, args, fetch)  # queue behind the checkpoint
        try:
            # The one inline cursor, as ``fetchrow`` uses: ``Connection.execute`` would make,
            # register and free one per statement.
            cur = self._read_cursor or self._inline_cursor()
            result: Any
            if fetch is None:  # see ``execute_cascading``
                before = cur.connection.total_changes
                result = cur.execute(qmark(sql), args).connection.total_changes - before
            else:
                cur = cur.execute(qmark(sql), args)
                result = cur.fetchall() if fetch else cur.rowcount
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                self._forget_inline()
                raise
            return await self._hop(sql, args, fetch)  # locked (or recovery): wait, off the loop
        if write:
            self._since_checkpoint += 1
            if self._since_checkpoint >= SQLITE_CHECKPOINT_EVERY:
                self._request_checkpoint()
        return result

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        """One row (or ``None``): ``_run`` for a read, written out because every request pays
        it; the same fairness yield and the same fallback to the writer thread."""
        if self._fair():
            await asyncio.sleep(0)
        if self._owner_ident != threading.get_ident() and self._elsewhere():
            rows = await self._hop(sql, args, True)  # another thread's loop owns the inline path
            return rows[0] if rows else None
        try:
            cursor = self._read_cursor or self._inline_cursor()
            rows = cursor.execute(qmark(sql), args).fetchall()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                self._forget_inline()
                raise
            rows = await self._hop(sql, args, True)  # locked (or recovery): wait, off the loop
        return rows[0] if rows else None  # sqlite3 rows are tuples already

    async def write_fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        """Run one write that returns a row (``… RETURNING``; the rate limits use it)."""
        rows = await self._run(sql, args, True, True)
        return tuple(rows[0]) if rows else None

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one write; returns the number of rows it changed."""
        return int(await self._run(sql, args, False))

    async def execute_cascading(self, sql: str, *args: Any) -> int:
        """Run one write; the rows it and its triggers changed (a login's sign-outs by the
        cap's trigger, :mod:`.cap`, which ``execute``'s count leaves out)."""
        return int(await self._run(sql, args, None))

    async def transaction(self, steps: Sequence[Step], *, hold: str) -> list[int]:
        """``steps`` inline in one ``BEGIN IMMEDIATE`` transaction (microseconds, no round
        trip), or on the writer thread when the file is locked, like any write. The file's
        write lock holds every owner (``hold`` needs no lock of its own)."""
        if self._fair():
            await asyncio.sleep(0)
        if not self._elsewhere() and not self._checkpoint_pending:
            try:
                counts = run_transaction(self._reader or self._inline(), steps)
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    self._forget_inline()
                    raise
            else:
                self._since_checkpoint += 1
                if self._since_checkpoint >= SQLITE_CHECKPOINT_EVERY:
                    self._request_checkpoint()
                return counts
        loop, deadline = asyncio.get_running_loop(), time.monotonic() + self._timeout
        work = functools.partial(run_transaction, steps=steps)
        counts = await loop.run_in_executor(self._executor(), self._work_in_writer, work, deadline)
        return list(counts)

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.shutdown(wait=True)
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = self._read_cursor = None
