"""``Driver``: what the SQL store asks of a database's per-request statement runner.

Each database has one (:class:`~.postgres.driver.PgHotPath` on asyncpg,
:class:`~.sqlite.driver.SqliteHotPath` on the stdlib ``sqlite3``) that runs one autocommit
statement per call, written with ``$n`` parameters (:mod:`.statements`), without SQLAlchemy's
pool checkout, implicit ``BEGIN``/``COMMIT`` and statement compilation (benchmarks/RESULTS.md
has the figures that justified it). The shared code sees only this, never which database it
is on; the rate limits and counters run on the same driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol

#: One statement of :meth:`Driver.transaction`: its text and its parameters.
Step = tuple[str, Sequence[Any]]


class Driver(Protocol):
    #: What the driver raises when a write would duplicate a primary key (a rotation onto a
    #: taken id).
    duplicate: ClassVar[tuple[type[Exception], ...]]

    def ts(self, value: datetime) -> Any:
        """``value`` (timezone-aware) as a statement parameter."""
        ...

    def parse_ts(self, value: Any) -> datetime:
        """A timestamp as the driver hands it back, as an aware UTC datetime."""
        ...

    def now_ts(self) -> Any:
        """``ts(utcnow())``, as cheaply as the database allows."""
        ...

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        """The first row of a read (``None`` when there is none)."""
        ...

    async def write_fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        """Run one write that returns a row (``… RETURNING``)."""
        ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one write; returns the number of rows it changed."""
        ...

    async def transaction(self, steps: Sequence[Step], *, hold: str) -> list[int]:
        """Run ``steps`` in order in one transaction on one connection that first holds the
        lock named ``hold`` (an owner, :func:`~.._per_user.owner_key`; SQLite: the file's
        write lock, which holds everything); the rows each changed. Nothing of it stays when
        one raises. For a decision that must see every write committed before it
        (``SESSION_MAX_PER_USER``), in as few round trips as the database allows."""
        ...

    async def close(self) -> None: ...
