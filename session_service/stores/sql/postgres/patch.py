"""``patch`` on PostgreSQL: ``(data - removed::text[]) || changed::jsonb`` merges any key in
one ``UPDATE`` (see :mod:`..delta` for what every merge guarantees)."""

from __future__ import annotations

import functools
from typing import Any

from ..._delta import Delta
from ..delta import compare_sql as _compare
from ..schema import sessions_table as T

#: The stored data as text, for the compare-and-set path.
READ_SQL = f"SELECT data::text FROM {T.name} WHERE id = $1 AND expiry_date > $2"


@functools.cache
def compare_sql(expiry: bool) -> str:
    return _compare("data = $5::jsonb", expiry)


@functools.cache
def _pg_sql(expiry: bool, owner: bool, limit: bool, removes: bool) -> str:
    # Without removed keys, no ``data - '{}'`` copy of the stored object is made.
    if removes:
        merged, n = "((data - $2::text[]) || $3::jsonb)", 4
    else:
        merged, n = "(data || $2::jsonb)", 3
    sets, where = [f"data = {merged}", f"updated_at = ${n}"], ["id = $1", f"expiry_date > ${n}"]
    if limit:
        n += 1
        where.append(f"octet_length({merged}::text) <= ${n}")
    if expiry:
        n += 1
        sets.append(f"expiry_date = ${n}")
    if owner:
        n += 1
        sets.append(f"user_id = ${n}")
    return f"UPDATE {T.name} SET {', '.join(sets)} WHERE {' AND '.join(where)}"


def patch_statement(
    session_id: str, delta: Delta, *, now: Any, expiry: Any, max_bytes: int | None
) -> tuple[str, list[Any]] | None:
    """The one-statement merge and its arguments (``now``/``expiry`` in the driver's form)."""
    moves, owner, limit = expiry is not None, delta.owner_changes, max_bytes is not None
    removes = bool(delta.removed)
    args = [session_id, *([list(delta.removed)] if removes else []), delta.object_json, now]
    if limit:
        args.append(max_bytes)
    if moves:
        args.append(expiry)
    if owner:
        args.append(delta.owner)
    return _pg_sql(moves, owner, limit, removes), args
