"""``request.session``: a dict-like object that knows what the request did with it.

It is a drop-in for Starlette's dict session (a ``MutableMapping[str, Any]``) and tracks, like
Starlette's own, whether it was read (``accessed``: the response then carries
``Vary: Cookie``) and written (``modified``: the middleware then saves it once, after the
handler). Two lifecycle operations, named after Django's, complete it:

* :meth:`Session.cycle_id` at login: the data moves to a fresh id when the response is sent and
  the old id dies, so an id planted before login (session fixation) is worthless after it;
* :meth:`Session.flush` at logout: the stored session is deleted and the cookie expired.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from datetime import datetime
from typing import Any

from starlette.requests import HTTPConnection


class Session(MutableMapping[str, Any]):
    """The session of one request. Values must be JSON: str, int, float, bool, None, list, dict."""

    __slots__ = (
        "_cycle",
        "_data",
        "_flushed",
        "_id",
        "_readonly",
        "accessed",
        "expiry_date",
        "last_seen",
        "modified",
        "tenant_id",
    )

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        tenant_id: str | None = None,
        expiry_date: datetime | None = None,
        readonly: bool = False,
        last_seen: datetime | None = None,
    ) -> None:
        self._data: dict[str, Any] = data if data is not None else {}
        self._id = session_id
        self.tenant_id = tenant_id
        self.expiry_date = expiry_date
        #: When the store last recorded this session's use (device tracking), as loaded.
        self.last_seen = last_seen
        self._readonly = readonly
        self._cycle = False
        self._flushed = False
        #: True once the handler read or wrote the session (the response varies on the cookie).
        self.accessed = False
        #: True once the handler changed the session (it will be saved after the handler).
        self.modified = False

    @property
    def id(self) -> str | None:
        """The stored session's id, or ``None`` for a session not stored yet.

        This is the raw id, not the cookie: the cookie is this id signed with the secret key.
        After :meth:`cycle_id` it changes when the response is sent.
        """
        return self._id

    @property
    def cycle_requested(self) -> bool:
        return self._cycle

    @property
    def flushed(self) -> bool:
        return self._flushed

    def _write(self) -> None:
        if self._readonly:
            raise TypeError("the session is read-only in a websocket: change it in an HTTP request")
        self.accessed = True
        self.modified = True

    def cycle_id(self) -> None:
        """Give the session a new id when the response is sent and kill the old one; keep the data.

        Call it at login (and on any privilege change), right after authenticating.
        """
        self._write()
        self._cycle = True

    def flush(self) -> None:
        """Delete the stored session and expire the cookie when the response is sent (logout)."""
        self._write()
        self._data.clear()
        self._flushed = True

    # -- MutableMapping ------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._write()
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        self._write()
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(self._data)

    def __len__(self) -> int:
        self.accessed = True
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return self._data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """The data itself (what will be stored), without marking the session as read."""
        return self._data

    def __repr__(self) -> str:
        # Values may be sensitive (tokens, personal data): show only the keys and an id prefix.
        shown = f"{self._id[:6]}…" if self._id else None
        return f"Session(id={shown!r}, keys={sorted(self._data)!r})"


def get_session(conn: HTTPConnection) -> Session:
    """``request.session`` typed as :class:`Session` (Starlette annotates it as a plain dict).

    Use it where you call :meth:`Session.cycle_id`, :meth:`Session.flush` or ``.id`` under mypy.
    """
    session = conn.scope.get("session")
    if not isinstance(session, Session):
        raise RuntimeError(
            "no session_service session on this request: add service.session_layer() to the "
            "app's middleware"
        )
    return session
