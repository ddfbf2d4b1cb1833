"""``patch``'s statements: merge a request's changed keys into the stored JSON in one statement.

The merge happens in the database, on the row as it is when the ``UPDATE`` takes its lock, so
two overlapping requests that change different keys both keep their writes, and (as for every
hot write) a row deleted or expired meanwhile is not brought back (``WHERE id = … AND
expiry_date > now``). ``user_id`` is set in the same statement when the request changed it, and
the expiry only when it is due to move: otherwise no indexed column is written, as in the
data-only ``update``.

[dialect] PostgreSQL: ``(data - removed::text[]) || changed::jsonb`` takes any key.
SQLite: ``json_set(json_remove(data, paths…), path, json(value), …)``, never ``json_patch``
(whose ``null`` means "delete", and which merges nested objects). A JSON path names a key as
``$."key"``, but SQLite's path syntax cannot name a key holding ``"`` at all, and SQLite
versions disagree on backslash escapes inside a path (3.40 compares the escaped text and
writes it verbatim as a new key; 3.45 unescapes), so only keys that need no escaping in JSON
go through a path.

Everything the one statement cannot do takes :data:`READ_SQL` then :func:`compare_sql`
(read the row, merge in Python, write it back only if the stored data is still what was
read, else read again): SQLite keys that need escaping, more keys than one SQLite function
call takes (:data:`SQLITE_MAX_KEYS`), a stored value that is not a JSON
object (a row this library did not write reads as empty, as ``load`` does), and a merged
session that may be over ``SESSION_MAX_BYTES``. The statement's own size guard is cheap and
conservative (on SQLite the stored size plus an upper bound of the growth, on PostgreSQL the
size of jsonb's own rendering, with a space after every ``:`` and ``,`` and numbers written
out in full, so not shorter than the compact JSON), so the compare-and-set path measures
exactly, with the encoder every whole write uses.
"""

from __future__ import annotations

import functools
from typing import Any

from ...settings import StoreKind
from .._delta import Delta
from .schema import sessions_table as T

#: [dialect] The stored data as text, for the compare-and-set path.
READ_SQL = {
    "postgres": f"SELECT data::text FROM {T.name} WHERE id = $1 AND expiry_date > $2",
    "sqlite": f"SELECT data FROM {T.name} WHERE id = $1 AND expiry_date > $2",
}


@functools.cache
def compare_sql(kind: StoreKind, expiry: bool) -> str:
    """Write the merged data (``$2``), owner (``$3``) and, if moving, the expiry (``$6``) only
    while the row is live and still holds the data that was read (``$5``)."""
    same = "data = $5::jsonb" if kind == "postgres" else "data = $5"  # [dialect]
    move = ", expiry_date = $6" if expiry else ""
    return (
        f"UPDATE {T.name} SET data = $2, user_id = $3, updated_at = $4{move} "
        f"WHERE id = $1 AND expiry_date > $4 AND {same}"
    )


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


#: Most keys one SQLite statement sets (or removes): a function takes at most 127 arguments
#: before SQLite 3.48 (``SQLITE_MAX_FUNCTION_ARG``), and ``json_set`` takes two per key.
SQLITE_MAX_KEYS = 60


@functools.lru_cache(maxsize=256)  # one text per count of keys: bounded either way
def _sqlite_sql(removed: int, changed: int, expiry: bool, owner: bool, limit: bool) -> str:
    sets, n = ["updated_at = $2"], 2
    where = [
        "id = $1",
        "expiry_date > $2",
        "CASE WHEN json_valid(data) THEN json_type(data) = 'object' ELSE 0 END",
    ]
    if limit:
        where.append(f"length(CAST(data AS BLOB)) + ${n + 1} <= ${n + 2}")
        n += 2
    if expiry:
        n += 1
        sets.append(f"expiry_date = ${n}")
    if owner:
        n += 1
        sets.append(f"user_id = ${n}")
    merged = "data"
    if removed:
        paths = ", ".join(f"${n + i + 1}" for i in range(removed))
        merged, n = f"json_remove({merged}, {paths})", n + removed
    if changed:
        pairs = ", ".join(f"${n + 2 * i + 1}, json(${n + 2 * i + 2})" for i in range(changed))
        merged = f"json_set({merged}, {pairs})"
    sets.insert(0, f"data = {merged}")
    return f"UPDATE {T.name} SET {', '.join(sets)} WHERE {' AND '.join(where)}"


def patch_statement(
    kind: StoreKind,
    session_id: str,
    delta: Delta,
    *,
    now: Any,
    expiry: Any,
    max_bytes: int | None,
) -> tuple[str, list[Any]] | None:
    """The one-statement merge and its arguments, or ``None`` when only the compare-and-set
    path can do it (``now``/``expiry`` are already in the driver's form)."""
    moves, owner, limit = expiry is not None, delta.owner_changes, max_bytes is not None
    if kind == "postgres":
        removes = bool(delta.removed)
        args = [session_id, *([list(delta.removed)] if removes else []), delta.object_json, now]
    else:
        args = [session_id, now]
        if limit:
            args.append(delta.growth)
    if limit:
        args.append(max_bytes)
    if moves:
        args.append(expiry)
    if owner:
        args.append(delta.owner)
    if kind == "postgres":
        return _pg_sql(moves, owner, limit, removes), args
    if len(delta.entries) > SQLITE_MAX_KEYS or len(delta.removed_json) > SQLITE_MAX_KEYS:
        return None
    for kj in delta.removed_json:
        if "\\" in kj:  # needs escaping: no JSON path can name it on every SQLite version
            return None
        args.append("$." + kj)
    for kj, value in delta.entries:
        if "\\" in kj:
            return None
        args += ("$." + kj, value)
    return _sqlite_sql(len(delta.removed_json), len(delta.entries), moves, owner, limit), args
