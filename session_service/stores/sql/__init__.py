"""The SQL stores: SQLite and PostgreSQL share one table (:mod:`.schema`), the per-request
statements (:mod:`.statements`) and one class, :class:`~.store.SqlSessionStore`.

What differs between the two databases lives in a package of its own, as SQLAlchemy keeps its
dialects: :mod:`.sqlite` and :mod:`.postgres` (each its store class, per-request driver,
engine and ``patch`` statements). The shared code never asks which database it is on.
"""

from .postgres import PgSessionStore
from .sqlite import SqliteSessionStore
from .store import SqlSessionStore

__all__ = ["PgSessionStore", "SqlSessionStore", "SqliteSessionStore"]
