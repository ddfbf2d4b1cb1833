"""``Driver``: what the SQL store asks of a database's per-request statement runner.

Each database has one (:class:`~.postgres.driver.PgHotPath` on asyncpg,
:class:`~.sqlite.driver.SqliteHotPath` on the stdlib ``sqlite3``) that runs one autocommit
statement per call, written with ``$n`` parameters (:mod:`.statements`), without SQLAlchemy's
pool checkout, implicit ``BEGIN``/``COMMIT`` and statement compilation (benchmarks/RESULTS.md
has the figures that justified it). The shared code sees only this, never which database it
is on; the rate limits and counters run on the same driver.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class Driver(Protocol):
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

    async def close(self) -> None: ...
