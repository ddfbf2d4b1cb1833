"""SQLite: its store (:mod:`.store`), per-request driver (:mod:`.driver`), engine
(:mod:`.engine`) and ``patch`` statements (:mod:`.patch`)."""

from .store import SqliteSessionStore

__all__ = ["SqliteSessionStore"]
