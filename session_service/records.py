"""The stored shape of one session, shared by every store and the middleware."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import SessionDataError

#: Bytes of randomness in a session id: 32 bytes is 256 bits, twice the 128 bits the security
#: guidance asks for, and encodes to 43 URL-safe characters.
SESSION_ID_BYTES = 32


def new_session_id() -> str:
    """A fresh, unguessable session id (256 bits from the OS CSPRNG)."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (every timestamp the library stores is)."""
    return datetime.now(UTC)


def user_id_of(data: dict[str, Any]) -> str | None:
    """The value the ``user_id`` column must hold for ``data``.

    ``data["user_id"]`` may be a str or an int (stored as text, so ``42`` and ``"42"`` are the
    same user); absent or ``None`` means the session is bound to nobody, which is how logout
    unbinds it. Anything else is refused, because a silently mangled user id would make
    "sign this user out everywhere" miss sessions.
    """
    value = data.get("user_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SessionDataError(
            f"session['user_id'] must be a str or an int, not {type(value).__name__}"
        )
    return str(value)


@dataclass(slots=True)
class SessionRecord:
    """One stored session.

    ``user_id`` mirrors ``data["user_id"]``: stores recompute it on every write, so callers only
    need to set the key in ``data``. ``created_at``/``updated_at`` are filled in by the store
    when it reads a row (for listings); they are ignored on write.

    The device fields (``SESSION_TRACK_DEVICES``, see :mod:`session_service.devices`): ``ip``,
    ``user_agent`` and ``handle`` are written when the session is created (a store gives it a
    fresh ``handle`` when it has none) and kept by later writes; ``last_seen`` is written
    when set and kept when ``None``.

    The lifetime fields (:mod:`session_service.lifetime`): ``idle_ttl`` and ``persistent`` are
    stored with the session by every write of the whole record; ``absolute_expiry`` is
    computed, never stored.
    """

    id: str
    data: dict[str, Any]
    expiry_date: datetime
    user_id: str | None = None
    tenant_id: str | None = None
    created_at: datetime | None = field(default=None, compare=False)
    updated_at: datetime | None = field(default=None, compare=False)
    ip: str | None = field(default=None, compare=False)
    user_agent: str | None = field(default=None, compare=False, repr=False)
    last_seen: datetime | None = field(default=None, compare=False)
    handle: str | None = field(default=None, compare=False, repr=False)
    #: This session's own idle TTL in seconds (``session.set_expiry``); ``None``: the default.
    idle_ttl: int | None = field(default=None, compare=False)
    #: This session's cookie kind (``session.persistent``); ``None``: the default.
    persistent: bool | None = field(default=None, compare=False)
    #: When the session ends however active (``SESSION_ABSOLUTE_TTL_SECONDS`` after its
    #: creation or last rotation); set by the store's rules on reads, ``None`` when off.
    absolute_expiry: datetime | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        # The id is a bearer credential once signed; show only a prefix, never the data.
        return (
            f"SessionRecord(id={self.id[:6]!r}…, user_id={self.user_id!r}, "
            f"tenant_id={self.tenant_id!r}, expiry_date={self.expiry_date.isoformat()!r}, "
            f"keys={sorted(self.data)!r})"
        )
