"""Where sessions live: one protocol (:mod:`.protocol`), the rules every store follows written
once (:mod:`.base`), and the stores that satisfy it.

* :mod:`.sql`: SQLite (the embedded default) and PostgreSQL, one shared implementation and a
  package each for what differs;
* :mod:`.redis` and :mod:`.memory`: the Redis store and the one-process store;
* :mod:`._codec` and :mod:`._delta`: the JSON and size rules every write goes through;
* :mod:`._errors`: driver failures to ``SessionStoreUnavailable`` with one readable line.
"""

from .protocol import (
    DEFAULT_BATCH_SIZE,
    ExpiryStore,
    PerRequestStore,
    ProgressCallback,
    SessionStore,
    StatsStore,
    StoreLifecycle,
    StoreStats,
    UserIndexStore,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ExpiryStore",
    "PerRequestStore",
    "ProgressCallback",
    "SessionStore",
    "StatsStore",
    "StoreLifecycle",
    "StoreStats",
    "UserIndexStore",
]
