"""The embedded store: one SQLite file, shared safely by the processes of one machine."""

from __future__ import annotations

from typing import ClassVar

from ...settings import StoreKind
from .store import SqlSessionStore


class SqliteSessionStore(SqlSessionStore):
    """Sessions in a SQLite file (WAL mode, busy timeout, ``BEGIN IMMEDIATE`` for writes)."""

    kind: ClassVar[StoreKind] = "sqlite"
