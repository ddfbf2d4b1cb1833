"""``session-service health``: whether the app's store answers (exit 0 healthy, 1 not).

Unlike the other commands it does not fail on a store that is down: saying so is its job, as a
report (``--json`` for scripts) within ``SESSION_DB_TIMEOUT_SECONDS``. Like them, it never
creates a missing SQLite file: a ping would, so a missing file is reported instead.

On PostgreSQL the detail also says what the revocation triggers notify: every revocation
during revision 0010's upgrade grace (:mod:`.grace`), else only while a read cache listens,
so an operator can see whether ``caches-upgraded`` is still to run.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from ..backend import SessionStoreBackend
from ..health import HealthReport, check
from ..settings import SessionSettings
from . import grace
from . import output as out
from ._database import PROG, missing_sqlite_file


async def report(settings: SessionSettings) -> HealthReport:
    """The store's health report, without creating a SQLite database that is not there."""
    missing = missing_sqlite_file(settings)
    if missing is not None:
        return HealthReport(
            False, "sqlite", 0.0, f"no session database at {missing}: run `{PROG} migrate`"
        )
    backend = SessionStoreBackend.from_settings(settings)
    try:
        found = await check(backend, settings.db_timeout_seconds)
        if found.ok:  # PostgreSQL: what its revocation triggers notify (revision 0010)
            with contextlib.suppress(Exception):  # the store answered: that is the report
                async with asyncio.timeout(settings.db_timeout_seconds):
                    state = await grace.triggers(backend)
                if state is not None:
                    found = replace(found, detail=f"{found.detail}; revocation triggers {state}")
        return found
    finally:
        await backend.close()


def result(found: HealthReport) -> out.Result:
    """The report for people (one line) and as a JSON document."""
    state = "healthy" if found.ok else "UNHEALTHY"
    detail = out.printable(found.detail)
    text = f"{state}: {found.store} store, {detail} ({found.latency_ms:.1f} ms)"
    return out.Result(text, found.as_dict(), failed=not found.ok)
