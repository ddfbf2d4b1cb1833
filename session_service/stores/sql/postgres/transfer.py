"""PostgreSQL's import of a page of sessions: one statement, whatever the page's size.

The generic SQL import (:mod:`..transfer`) reads which keys are stored, then inserts the new
rows and updates the newer ones: on asyncpg that is a prepared statement executed once per
row, so a million sessions took a million round trips' worth of work on both sides. Here the
page goes as one array per column, unnested by the server into an ``INSERT … ON CONFLICT DO
UPDATE … WHERE`` the stored ``updated_at`` is earlier: the newer-wins rule of
:mod:`..._transfer` decided by the database, row by row, atomically (a key inserted by
another writer meanwhile is a conflict like any other, so no retry), and ``RETURNING`` counts
exactly the rows written (a row left as it was returns nothing).
"""

from __future__ import annotations

from typing import Any

from ..._transfer import StoredSession
from ..schema import sessions_table as T

_COLUMNS = (
    ("id", "text"), ("data", "text"), ("expiry_date", "timestamptz"), ("user_id", "text"),
    ("tenant_id", "text"), ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
    ("ip", "text"), ("user_agent", "text"), ("last_seen", "timestamptz"), ("handle", "text"),
)  # fmt: skip

_NAMES = ", ".join(name for name, _ in _COLUMNS)
_ARRAYS = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(_COLUMNS, 1))
_PICKED = ", ".join("data::jsonb" if name == "data" else name for name, _ in _COLUMNS)
_SET = ", ".join(f"{name} = excluded.{name}" for name, _ in _COLUMNS[1:])

#: One page of rows, $1..$11 one array per column of ``_COLUMNS``; a row for each one written.
IMPORT_SQL = (
    f"INSERT INTO {T.name} ({_NAMES}) "
    f"SELECT {_PICKED} FROM unnest({_ARRAYS}) AS r({_NAMES}) "
    f"ON CONFLICT (id) DO UPDATE SET {_SET} WHERE {T.name}.updated_at < excluded.updated_at "
    "RETURNING 1"
)


def page_arrays(rows: list[tuple[StoredSession, str]]) -> tuple[list[Any], ...]:
    """The statement's arguments: each column of the page as one list (the keys distinct)."""
    return (
        [row.key for row, _ in rows],
        [data for _, data in rows],
        [row.expiry_date for row, _ in rows],
        [row.user_id for row, _ in rows],
        [row.tenant_id for row, _ in rows],
        [row.created_at for row, _ in rows],
        [row.updated_at for row, _ in rows],
        [row.ip for row, _ in rows],
        [row.user_agent for row, _ in rows],
        [row.last_seen for row, _ in rows],
        [row.handle for row, _ in rows],
    )
