"""The SQL stores: SQLite and PostgreSQL share one table, one set of statements and one class.

:class:`~.store.SqlSessionStore` holds every operation; :class:`~.sqlite.SqliteSessionStore`
and :class:`~.postgres.PgSessionStore` only name their kind. What differs between the two
databases is :mod:`.dialects` (engine set-up) and the lines marked ``[dialect]`` in
:mod:`.hot_path` (per-request statements on the drivers).
"""

from .postgres import PgSessionStore
from .sqlite import SqliteSessionStore
from .store import SqlSessionStore

__all__ = ["PgSessionStore", "SqlSessionStore", "SqliteSessionStore"]
