"""What the SQLite driver (:mod:`.driver`) does on one stdlib connection, whichever thread it
runs on (the event loop's inline connection or the writer thread's): a statement, a write
transaction, the per-connection setup, and the spelling of parameters."""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from ..driver import Step


def is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def run_statement(
    conn: sqlite3.Connection, sql: str, args: tuple[Any, ...], fetch: bool | None
) -> Any:
    """Run ``sql`` on ``conn``: its rows (``fetchall()`` ends the statement, so no read
    snapshot outlives the call) or the number of rows it changed (``fetch`` ``None``: with
    its triggers', which ``total_changes`` counts and the statement's own count does not)."""
    if fetch is None:
        before = conn.total_changes
        return conn.execute(qmark(sql), args).connection.total_changes - before
    cur = conn.execute(qmark(sql), args)
    return cur.fetchall() if fetch else cur.rowcount


def run_transaction(conn: sqlite3.Connection, steps: Sequence[Step]) -> list[int]:
    """``steps`` in one write transaction on ``conn``, rolled back if one raises (a busy file
    at ``BEGIN IMMEDIATE`` raises before anything ran)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        counts = [conn.execute(qmark(sql), tuple(args)).rowcount for sql, args in steps]
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return counts


def run_setup(conn: sqlite3.Connection, statements: tuple[str, ...]) -> None:
    for sql in statements:
        conn.execute(sql)


def close_quietly(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


def log_checkpoint_failure(future: Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        logging.getLogger("session_service").warning(
            "SQLite checkpoint failed (the next one will catch up): %s", exc
        )


@functools.cache
def qmark(sql: str) -> str:  # SQLite spells the same numbered parameters ?NNN
    return sql.replace("$", "?")
