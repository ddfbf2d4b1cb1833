"""``patch`` on SQLite: ``json_set(json_remove(data, paths…), path, json(value), …)`` in one
``UPDATE`` (see :mod:`..delta` for what every merge guarantees).

Never ``json_patch`` (whose ``null`` means "delete", and which merges nested objects). A JSON
path names a key as ``$."key"``, but SQLite's path syntax cannot name a key holding ``"`` at
all, and SQLite versions disagree on backslash escapes inside a path (3.40 compares the
escaped text and writes it verbatim as a new key; 3.45 unescapes), so only keys that need no
escaping in JSON go through a path; the others, and more keys than one function call takes
(:data:`SQLITE_MAX_KEYS`), take the compare-and-set path.
"""

from __future__ import annotations

import functools
from typing import Any

from ..._delta import Delta
from ..delta import compare_sql as _compare
from ..schema import sessions_table as T

#: The stored data as text, for the compare-and-set path.
READ_SQL = f"SELECT data FROM {T.name} WHERE id = $1 AND expiry_date > $2"


@functools.cache
def compare_sql(expiry: bool) -> str:
    return _compare("data = $5", expiry)


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
    session_id: str, delta: Delta, *, now: Any, expiry: Any, max_bytes: int | None
) -> tuple[str, list[Any]] | None:
    """The one-statement merge and its arguments, or ``None`` when only the compare-and-set
    path can do it (``now``/``expiry`` in the driver's form)."""
    moves, owner, limit = expiry is not None, delta.owner_changes, max_bytes is not None
    args = [session_id, now]
    if limit:
        args += (delta.growth, max_bytes)
    if moves:
        args.append(expiry)
    if owner:
        args.append(delta.owner)
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
