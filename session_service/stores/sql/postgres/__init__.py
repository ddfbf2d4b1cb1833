"""PostgreSQL: its store (:mod:`.store`), per-request driver (:mod:`.driver`, :mod:`.pooler`),
engine and lock keys (:mod:`.engine`) and ``patch`` statements (:mod:`.patch`)."""

from .store import PgSessionStore

__all__ = ["PgSessionStore"]
