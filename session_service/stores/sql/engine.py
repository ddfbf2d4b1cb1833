"""What both databases' engines share: the write-mode option and the default timeout.

Each database opens its engine in its own module (:mod:`.sqlite.engine`,
:mod:`.postgres.engine`); the SQL store asks its subclass for one.
"""

from __future__ import annotations

#: Execution option a store sets on connections that will write. On SQLite it makes the
#: transaction ``BEGIN IMMEDIATE``, so a multi-statement write takes the write lock up front
#: and waits on ``busy_timeout`` instead of failing with "database is locked" half-way.
WRITE_OPTION = "session_service_write"

#: How long a connection waits on the database (a lock, a statement, a pool checkout) before
#: giving up, unless the store is given ``SESSION_DB_TIMEOUT_SECONDS``.
DEFAULT_TIMEOUT_SECONDS = 5.0
