"""The one table both stores use, defined once.

Column types are chosen per dialect where it pays:

* ``data`` is ``JSONB`` on PostgreSQL, so operators can query sessions by content
  (``data->>'cart'``) and the server rejects malformed JSON; on SQLite it is JSON text, since
  SQLite's JSON functions read text anyway.
* ``expiry_date``/``created_at``/``updated_at`` are ``timestamptz`` on PostgreSQL. SQLite has no
  timestamp type, so :class:`UtcDateTime` stores UTC as fixed-width ISO text, which sorts (and
  so compares and indexes) in time order, and hands back timezone-aware datetimes.

Indexes: ``(user_id, tenant_id)`` makes "sign this user out everywhere" and the per-user
listings an index scan with or without a tenant; ``expiry_date`` bounds the expiry cleanup;
``tenant_id`` serves per-tenant ``clear_all_sessions``.

Device columns (revision 0004, all nullable, written only with ``SESSION_TRACK_DEVICES``
except ``handle``): ``ip``, ``user_agent``, ``last_seen`` and ``handle``, the session's public
name in "your devices" (random, never derived from the id). Revoking by handle is always
scoped to a user, so the user index serves it and ``handle`` needs none of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from ...errors import SessionDataError
from ...storable import (
    HANDLE_LENGTH,
    ID_LENGTH,
    IP_LENGTH,
    LIMIT_KEY_LENGTH,
    NAIVE_DATETIME,
    PRINCIPAL_LENGTH,
    USER_AGENT_LENGTH,
)

__all__ = [
    "ID_LENGTH",
    "PRINCIPAL_LENGTH",
    "counters_table",
    "limits_table",
    "metadata",
    "sessions_table",
]

TABLE_NAME = "sessions"


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # SessionDataError (a ValueError) so stores report a caller's mistake as such,
            # not as the database being unavailable.
            raise SessionDataError(NAIVE_DATETIME)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # a SQLite value written by something else
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _NaiveUtcText(UtcDateTime):
    """SQLite's spelling of :class:`UtcDateTime`: it keeps text, and dropping the offset keeps
    every stored value the same width."""

    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        value = super().process_bind_param(value, dialect)
        return None if value is None else value.replace(tzinfo=None)


def _utc_datetime() -> TypeEngine[datetime]:
    return UtcDateTime().with_variant(_NaiveUtcText(), "sqlite")


metadata = MetaData()

sessions_table = Table(
    TABLE_NAME,
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("data", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("expiry_date", _utc_datetime(), nullable=False),
    Column("user_id", String(PRINCIPAL_LENGTH), nullable=True),
    Column("tenant_id", String(PRINCIPAL_LENGTH), nullable=True),
    Column("created_at", _utc_datetime(), nullable=False),
    Column("updated_at", _utc_datetime(), nullable=False),
    Column("ip", String(IP_LENGTH), nullable=True),
    Column("user_agent", String(USER_AGENT_LENGTH), nullable=True),
    Column("last_seen", _utc_datetime(), nullable=True),
    Column("handle", String(HANDLE_LENGTH), nullable=True),
    Index("ix_sessions_user_tenant", "user_id", "tenant_id"),
    Index("ix_sessions_expiry_date", "expiry_date"),
    Index("ix_sessions_tenant", "tenant_id"),
)

#: The rate limits (``service.limits`` and the login guard): per key, the last ``limit``
#: allowed hit times as fixed-width milliseconds of the app clock, concatenated, and when the
#: newest of them leaves its window (ms), and (revision 0007) the limit and window (ms) the
#: app passed with its latest allowed hit (NULL on rows logged before). See :mod:`.limits`.
limits_table = Table(
    "session_limits",
    metadata,
    Column("key", String(LIMIT_KEY_LENGTH), primary_key=True),
    Column("hits", Text(), nullable=False),
    Column("expires_at", BigInteger(), nullable=False),
    Column("limit_count", BigInteger(), nullable=True),
    Column("window_ms", BigInteger(), nullable=True),
    Index("ix_session_limits_expires_at", "expires_at"),
)

#: ``service.counters``: an integer per key, expiring (ms of the app clock) or not.
counters_table = Table(
    "session_counters",
    metadata,
    Column("key", String(LIMIT_KEY_LENGTH), primary_key=True),
    Column("value", BigInteger(), nullable=False),
    Column("expires_at", BigInteger(), nullable=True),
    Index("ix_session_counters_expires_at", "expires_at"),
)
