"""Prepared statements that survive a transaction pooler (PgBouncer, RDS Proxy, Supavisor).

A pooler in transaction mode hands each transaction (and each implicit one: everything up to a
``Sync``) to whichever server connection is free, so a statement prepared on one server
connection is missing on the next ("prepared statement … does not exist") and a generated name
can be taken already ("… already exists"). Both errors are raised before the statement runs,
so retrying it is always safe.

The hot path keeps one prepared statement per SQL text on each connection, in one of two modes:

* **named** (direct connections): prepared once under a name unique to this process and
  connection, then one round trip (``Bind``/``Execute``/``Sync``) per run. A unique name, never
  asyncpg's per-connection counter, means that through an undetected pooler a run can only
  fail with "does not exist", never bind to another client's statement of the same number.
* **unnamed** (behind a pooler): prepared once as the unnamed statement on a connection whose
  asyncpg statement cache is off, which makes asyncpg send ``Parse`` again in the same packet
  as every ``Bind``/``Execute``/``Sync``: still one round trip per run, and the server parses
  the text each time (the cost of the extra hop a pooler adds anyway).
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import asyncpg
from asyncpg.exceptions import DuplicatePreparedStatementError, InvalidSQLStatementNameError

#: What a transaction pooler does to named prepared statements (raised before anything ran).
POOLER_ERRORS = (InvalidSQLStatementNameError, DuplicatePreparedStatementError)

_PROCESS_TOKEN = secrets.token_hex(6)
_NUMBERS = itertools.count()


class PgConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped
    """An asyncpg connection holding the hot path's prepared statements (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_statements: dict[str, Any] = {}
        self.session_unnamed = False

    def prepared_statement(self, sql: str, unnamed: bool) -> Any:
        """The statement for ``sql`` if it is prepared already in the given mode, else
        ``None`` (then :meth:`session_statement` prepares it)."""
        if unnamed != self.session_unnamed:
            return None
        stmt = self.session_statements.get(sql)
        if stmt is not None:
            # asyncpg ties a statement object to one checkout of a pooled connection (it
            # refuses it after a release), but the statement lives as long as the connection:
            # re-tie it.
            stmt._con_release_ctr = self._pool_release_ctr
        return stmt

    async def session_statement(self, sql: str, unnamed: bool, seconds: float) -> Any:
        """The prepared statement for ``sql`` in the given mode (prepared on first use)."""
        if unnamed != self.session_unnamed:
            # Statements prepared by name stay on whichever server got them until it closes.
            self.session_statements.clear()
            self.session_unnamed = unnamed
        stmt = self.prepared_statement(sql, unnamed)
        if stmt is None:
            name = "" if unnamed else f"__session_service_{_PROCESS_TOKEN}_{next(_NUMBERS)}__"
            stmt = await self.prepare(sql, name=name, timeout=seconds)
            self.session_statements[sql] = stmt
            stmt._con_release_ctr = self._pool_release_ctr
        return stmt


async def connect(*args: Any, **kwargs: Any) -> PgConnection:
    """``asyncpg.connect`` for the hot path's pool: asyncpg's own statement cache off.

    The hot path keeps its own statements (above); with the cache off, asyncpg's internal
    queries (type introspection) are unnamed too, so nothing it does trips a pooler.
    """
    kwargs["connection_class"] = PgConnection
    kwargs["statement_cache_size"] = 0
    conn: PgConnection = await asyncpg.connect(*args, **kwargs)
    return conn
