"""A session's lifetime: its own idle TTL, its cookie kind, and its absolute deadline.

How long a session lives is decided by three things (docs/lifetime.md):

* the idle TTL: ``SESSION_TTL_SECONDS``, or the session's own from ``session.set_expiry``
  ("remember me" for 30 days, 15 minutes for an admin console);
* the absolute deadline: ``SESSION_ABSOLUTE_TTL_SECONDS`` after the session's start, however
  active it is. The start is the time the store records as the session's ``created_at``,
  which every store resets when a login rotates the id (``cycle_id``), so a login starts a
  new absolute lifetime and a session stored by an older version starts at its creation;
* the cookie kind: ``SESSION_COOKIE_PERSISTENT``, or the session's own ``session.persistent``.

The effective expiry is the earlier of the idle and the absolute deadline, on every path.

The session's own idle TTL and cookie kind are stored with it, in its data, under one
reserved key (:data:`LIFETIME_KEY`), as Django keeps ``_session_expiry``: every store already
writes, patches, rotates, exports and imports the data, so nothing per store is needed and no
schema changes. The stores' rules (:class:`~session_service.stores.base.SessionStoreBase`)
take the key out of the data on every read and put it back on every write, so neither
``request.session`` nor a listing ever shows it; an app's own key of that name is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .errors import SessionDataError

#: The data key holding a session's own lifetime (``{"ttl": seconds, "persistent": bool}``).
LIFETIME_KEY = "__session_lifetime__"
#: The longest ``set_expiry`` accepts: 10 years, as for ``SESSION_TTL_SECONDS``.
MAX_EXPIRY_SECONDS = 10 * 366 * 24 * 3600


def check_expiry(seconds: object) -> int | None:
    """``seconds`` as ``set_expiry`` takes it: ``None`` (the default TTL) or a whole number
    of seconds from 1 to 10 years; anything else is a :class:`SessionDataError`."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise SessionDataError(
            f"set_expiry() takes a whole number of seconds or None, not {type(seconds).__name__}"
        )
    if not 1 <= seconds <= MAX_EXPIRY_SECONDS:
        raise SessionDataError(
            f"set_expiry() takes from 1 to {MAX_EXPIRY_SECONDS} seconds (10 years), "
            f"not {seconds}; pass None for the default SESSION_TTL_SECONDS"
        )
    return seconds


def check_persistent(value: object) -> bool | None:
    """``session.persistent``: ``True``, ``False`` or ``None`` (the default)."""
    if value is not None and not isinstance(value, bool):
        raise SessionDataError(
            f"session.persistent must be True, False or None, not {type(value).__name__}"
        )
    return value


def lifetime_value(idle_ttl: int | None, persistent: bool | None) -> dict[str, Any] | None:
    """What :data:`LIFETIME_KEY` holds for these settings (``None``: both default, no key)."""
    if idle_ttl is None and persistent is None:
        return None
    value: dict[str, Any] = {}
    if idle_ttl is not None:
        value["ttl"] = idle_ttl
    if persistent is not None:
        value["persistent"] = persistent
    return value


def read_lifetime(value: Any) -> tuple[int | None, bool | None]:
    """The idle TTL and cookie kind in a stored :data:`LIFETIME_KEY` value. A value this
    library did not write reads as the defaults (a row edited by hand must not fail reads)."""
    if not isinstance(value, dict):
        return None, None
    ttl, persistent = value.get("ttl"), value.get("persistent")
    try:
        ttl = check_expiry(ttl)
    except SessionDataError:
        ttl = None
    return ttl, persistent if isinstance(persistent, bool) else None


def refuse_reserved() -> SessionDataError:
    return SessionDataError(
        f"session[{LIFETIME_KEY!r}] is reserved for the session's own lifetime: use "
        "session.set_expiry() and session.persistent, or another key"
    )


def absolute_ttl_of(seconds: int) -> timedelta | None:
    """``SESSION_ABSOLUTE_TTL_SECONDS`` as the stores' rules take it (0: ``None``, off)."""
    return timedelta(seconds=seconds) if seconds > 0 else None
