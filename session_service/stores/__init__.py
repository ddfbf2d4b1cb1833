"""Where sessions live: one protocol (:mod:`.protocol`) and the stores that satisfy it.

* :mod:`.sql`: SQLite (the embedded default) and PostgreSQL, one shared implementation;
* :mod:`._codec`: the JSON and size rules every store applies before it writes;
* :mod:`._errors`: driver failures to ``SessionStoreUnavailable`` with one readable line.
"""

from .protocol import DEFAULT_BATCH_SIZE, ProgressCallback, SessionStore, StoreStats

__all__ = ["DEFAULT_BATCH_SIZE", "ProgressCallback", "SessionStore", "StoreStats"]
