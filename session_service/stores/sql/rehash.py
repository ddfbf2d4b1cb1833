"""The ``0005`` revision's work: every stored session id replaced by its hash
(:func:`~session_service.storable.at_rest_id`), in batches, each committed on its own.

One transaction per batch keeps every lock short: a batch's rows are locked only while
that batch is rewritten, so a concurrent login (a new row, or a write to a row of another
batch) waits at most for one batch, never for the whole table (``benchmarks/
rehash_ids_bench.py`` measures it on a million rows). A row whose id already has the hash's
shape (:func:`~session_service.storable.is_at_rest_id`) is left alone, so an interrupted
upgrade resumes where it stopped and a second run changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import TextClause, select, text
from sqlalchemy.engine import Connection

from ...storable import at_rest_id, is_at_rest_id
from ..protocol import ProgressCallback
from .schema import sessions_table as T

#: Rows read (and at most rewritten) per transaction.
REHASH_BATCH_SIZE = 1000
#: Set by :func:`~.migrate.run_on_engine` in ``Connection.info``: takes the migration lock
#: again in the transaction that follows a commit.
RELOCK = "session_service.relock"


def _rewrite(n: int) -> TextClause:
    """``n`` ids to their hashes in one statement (a CTE of pairs joined by ``UPDATE ...
    FROM``: PostgreSQL, and SQLite since 3.33)."""
    pairs = ", ".join(f"(:o{i}, :n{i})" for i in range(n))
    return text(
        f"WITH v(old, new) AS (VALUES {pairs}) "
        f"UPDATE {T.name} SET id = v.new FROM v WHERE {T.name}.id = v.old"
    )


def _pairs(ids: list[str]) -> dict[str, str]:
    binds: dict[str, str] = {}
    for i, sid in enumerate(ids):
        binds[f"o{i}"], binds[f"n{i}"] = sid, at_rest_id(sid)
    return binds


def rehash_ids(
    conn: Connection,
    *,
    batch_size: int = REHASH_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Hash every id of ``sessions`` on ``conn``, committing after each batch (``conn`` is
    in a transaction and ends in a new one, under the migration lock again); returns how
    many rows were rewritten."""
    relock: Callable[[], None] | None = conn.info.get(RELOCK)
    done, last = 0, ""
    while True:
        ids = conn.scalars(
            select(T.c.id).where(T.c.id > last).order_by(T.c.id).limit(batch_size)
        ).all()
        if not ids:
            return done
        last = ids[-1]
        old = [sid for sid in ids if not is_at_rest_id(sid)]
        if not old:
            continue
        # One statement per batch, matched by ``old``: a row another migrator rewrote
        # meanwhile matches nothing.
        conn.execute(_rewrite(len(old)), _pairs(old))
        conn.commit()
        if relock is not None:
            relock()
        done += len(old)
        if on_progress is not None:
            on_progress(done)
