"""``request.session``: a ``dict`` that knows what the request did with it.

Like Starlette 1.x's own session, :class:`Session` is a ``dict`` subclass, so every dict
operation behaves exactly as on a dict (``JSONResponse(request.session)``, ``|=``,
``popitem()``, ``copy()``...), and it tracks whether it was read (``accessed``: the response
then carries ``Vary: Cookie``) and written (``modified``: the middleware then saves it once,
after the handler). Two lifecycle operations, named after Django's, complete it:

* :meth:`Session.cycle_id` at login: the data moves to a fresh id when the response is sent and
  the old id dies, so an id planted before login (session fixation) is worthless after it;
* :meth:`Session.flush` at logout: the stored session is deleted and the cookie expired. Data
  written after ``flush()`` in the same request starts a new session under a new id.

Every change goes through one hook, :meth:`Session._write`, which receives the keys the change
touches (``None``: the whole session, as after ``flush()`` or ``cycle_id()``) and remembers
them, so the middleware saves only those keys (:meth:`Session.changes`) and two overlapping
requests that change different keys both keep their writes (``docs/sessions.md``,
"Concurrent requests of one session"). Reads only set ``accessed`` (one attribute store, never
a copy or a serialization), so a read-only request pays nothing for the tracking. As in
Starlette's and Django's sessions, a nested value changed in place
(``session["cart"].append(3)``) is not seen: reassign the key to save it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from starlette.requests import HTTPConnection

from ..errors import SessionConfigError
from ..lifetime import check_expiry, check_persistent

_MISSING: Any = object()


class Session(dict[str, Any]):
    """The session of one request. Values must be JSON: str, int, float, bool, None, list, dict."""

    __slots__ = (
        "_cycle",
        "_dirty",
        "_flushed",
        "_id",
        "_idle_ttl",
        "_keep_data",
        "_lifetime_changed",
        "_loaded_user",
        "_persistent",
        "_readonly",
        "_whole",
        "absolute_expiry",
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
        idle_ttl: int | None = None,
        persistent: bool | None = None,
        absolute_expiry: datetime | None = None,
    ) -> None:
        if data:
            dict.update(self, data)
        #: ``user_id`` as loaded (see :attr:`user_changed`).
        self._loaded_user = _user_of(data)
        self._id = session_id
        self.tenant_id = tenant_id
        self.expiry_date = expiry_date
        #: When the store last recorded this session's use (device tracking), as loaded.
        self.last_seen = last_seen
        #: A websocket's session: writes are accepted (as Starlette's are) and never saved.
        self._readonly = readonly
        self._idle_ttl = idle_ttl
        self._persistent = persistent
        self._lifetime_changed = False
        #: When the session ends however active (``SESSION_ABSOLUTE_TTL_SECONDS``), as loaded.
        self.absolute_expiry = absolute_expiry
        self._cycle = False
        self._keep_data = True
        #: The id this request loaded, now deleted by ``flush()`` (see :attr:`flushed_id`).
        self._flushed: str | None = None
        #: The keys written or removed so far (``None`` until the first write: reads allocate
        #: nothing); ``_whole`` once a change concerns the whole session.
        self._dirty: set[str] | None = None
        self._whole = False
        #: True once the handler read or wrote the session (the response varies on the cookie).
        self.accessed = False
        #: True once the handler changed the session (it will be saved after the handler).
        self.modified = False

    # -- tracking hook --------------------------------------------------------------------

    def _write(self, keys: Iterable[str] | None = None) -> None:
        """Called before every change; ``keys`` are the keys it sets or removes (``None``: the
        whole session changes, so it will be written whole)."""
        # A websocket's session (``_readonly``) takes writes too: they live as long as the
        # connection and are never saved, as with Starlette's (no response carries a cookie).
        self.accessed = True
        self.modified = True
        if keys is None:
            self._whole = True
        elif not self._whole:
            if self._dirty is None:
                self._dirty = set(keys)
            else:
                self._dirty.update(keys)

    def changes(self) -> tuple[dict[str, Any], list[str]] | None:
        """What this request changed: the keys it set (with their values now) and the keys it
        removed; ``None`` when the whole session changed (``flush``, ``cycle_id``).

        A key set and then removed in the same request counts as removed (it may have been
        stored before), one removed and then set again as set. Does not mark the session read.
        """
        if self._whole:
            return None
        changed: dict[str, Any] = {}
        removed: list[str] = []
        for key in self._dirty or ():
            if dict.__contains__(self, key):
                changed[key] = dict.__getitem__(self, key)
            else:
                removed.append(key)
        return changed, removed

    # -- identity and lifecycle ------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The stored session's id, or ``None`` for a session not stored yet (or flushed).

        This is the raw id, not the cookie: the cookie is this id signed with the secret key.
        After :meth:`cycle_id` it changes when the response is sent.
        """
        return self._id

    @property
    def user_changed(self) -> bool:
        """Whether ``session["user_id"]`` was set, changed or removed since the session was
        loaded (``42`` and ``"42"`` are the same user). Does not mark the session read."""
        return _user_of(self) != self._loaded_user

    @property
    def cycle_requested(self) -> bool:
        """Whether :meth:`cycle_id` was called: the middleware then saves under a new id."""
        return self._cycle

    @property
    def keep_data(self) -> bool:
        """Whether a requested :meth:`cycle_id` keeps the data (it does unless asked not to)."""
        return self._keep_data

    @property
    def flushed_id(self) -> str | None:
        """The id :meth:`flush` disowned; the middleware deletes it when the response starts."""
        return self._flushed

    def cycle_id(self, *, keep_data: bool = True) -> None:
        """Give the session a new id when the response is sent and kill the old one.

        Call it at login (and on any privilege change), right after authenticating. The data
        is kept (a cart filled before login survives it) unless ``keep_data=False``: then the
        session starts empty, and only what the handler writes after this call is saved.
        """
        self._write(None)
        if not keep_data:
            dict.clear(self)
            self._keep_data = False
        self._cycle = True

    def flush(self) -> None:
        """Delete the stored session and expire the cookie when the response is sent (logout).

        After it :attr:`id` is ``None``; anything written afterwards in the same request is
        saved as a new session, under a new id.
        """
        self._write(None)
        dict.clear(self)
        if self._id is not None:
            self._flushed = self._id
        self._id = None
        self._cycle = False
        # A new session after this starts with the default lifetime, and a lifetime of its own.
        self._idle_ttl = self._persistent = self.absolute_expiry = None

    # -- lifetime (saved with the request like any change; kept by cycle_id) --------------

    def set_expiry(self, seconds: int | None) -> None:
        """This session's own idle TTL: it ends after ``seconds`` without use (1 s to 10
        years; ``None``: ``SESSION_TTL_SECONDS`` again), never past its absolute deadline.

        "Remember me" for 30 days at login, or 15 minutes for an admin console. Anything
        else raises :class:`~session_service.errors.SessionDataError` (a ``ValueError``).
        """
        seconds = check_expiry(seconds)
        self._write(())
        self._idle_ttl = seconds
        self._lifetime_changed = True

    @property
    def idle_ttl(self) -> int | None:
        """This session's own idle TTL in seconds (``None``: the default)."""
        return self._idle_ttl

    @property
    def persistent(self) -> bool | None:
        """This session's cookie kind: ``False`` a browser-session cookie (no ``Max-Age``),
        ``True`` a persistent one, whatever ``SESSION_COOKIE_PERSISTENT`` says; ``None``
        (the default) follows that setting."""
        return self._persistent

    @persistent.setter
    def persistent(self, value: bool | None) -> None:
        value = check_persistent(value)
        self._write(())
        self._persistent = value
        self._lifetime_changed = True

    @property
    def lifetime_changed(self) -> bool:
        """Whether this request called :meth:`set_expiry` or set :attr:`persistent`."""
        return self._lifetime_changed

    def to_dict(self) -> dict[str, Any]:
        """A plain-dict copy of the data (what will be stored), without marking it as read."""
        # Not dict.copy(self): with __iter__ overridden, CPython copies a subclass through
        # keys() and __getitem__, which would mark the session as read.
        return dict(dict.items(self))

    # -- reads -----------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return dict.__contains__(self, key)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return dict.__iter__(self)

    def __reversed__(self) -> Iterator[str]:
        self.accessed = True
        return dict.__reversed__(self)

    def __len__(self) -> int:
        self.accessed = True
        return dict.__len__(self)

    def keys(self) -> Any:
        self.accessed = True
        return dict.keys(self)

    def values(self) -> Any:
        self.accessed = True
        return dict.values(self)

    def items(self) -> Any:
        self.accessed = True
        return dict.items(self)

    def copy(self) -> dict[str, Any]:
        """A plain ``dict`` copy, as ``dict.copy`` gives."""
        self.accessed = True
        return self.to_dict()

    def __eq__(self, other: object) -> bool:
        self.accessed = True
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        self.accessed = True
        return dict.__ne__(self, other)

    __hash__ = None

    def __or__(self, other: Any) -> Any:
        self.accessed = True
        return dict.__or__(self, other)

    def __ror__(self, other: Any) -> Any:
        self.accessed = True
        return dict.__ror__(self, other)

    # -- writes ----------------------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self._write((key,))
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        if not dict.__contains__(self, key):
            self.accessed = True
            raise KeyError(key)
        self._write((key,))
        dict.__delitem__(self, key)

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        if dict.__contains__(self, key):
            self._write((key,))
            return dict.pop(self, key)
        if default is _MISSING:
            self.accessed = True
            raise KeyError(key)
        if dict.__len__(self):
            # The answer depends on what the session holds; an empty one tells nothing.
            self.accessed = True
        return default

    def popitem(self) -> tuple[str, Any]:
        if not dict.__len__(self):
            self.accessed = True
            raise KeyError("popitem(): session is empty")
        key = next(dict.__reversed__(self))
        self._write((key,))
        return key, dict.pop(self, key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            self.accessed = True
            return dict.__getitem__(self, key)
        self._write((key,))
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        changes: dict[str, Any] = dict(*args, **kwargs)
        if changes:
            self._write(changes.keys())
            dict.update(self, changes)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override]
        self.update(other)
        return self

    def clear(self) -> None:
        if dict.__len__(self):
            self._write(tuple(dict.keys(self)))
            dict.clear(self)
        else:
            self.accessed = True

    def __repr__(self) -> str:
        # Values may be sensitive (tokens, personal data): show only the keys and an id prefix.
        shown = f"{self._id[:6]}…" if self._id else None
        return f"Session(id={shown!r}, keys={sorted(dict.keys(self))!r})"

    def __reduce__(self) -> Any:
        # copy/pickle give a plain dict of the data: the tracking state belongs to one request.
        return (dict, (self.to_dict(),))


def _user_of(data: dict[str, Any] | None) -> str | None:
    """The user a session's data names, as stored (``dict.get``: no read is recorded)."""
    value = None if data is None else dict.get(data, "user_id")
    return None if value is None else str(value)


def get_session(conn: HTTPConnection) -> Session:
    """``request.session`` typed as :class:`Session` (Starlette annotates it as a plain dict).

    Use it where you call :meth:`Session.cycle_id`, :meth:`Session.flush` or ``.id`` under mypy.
    """
    session = conn.scope.get("session")
    if not isinstance(session, Session):
        raise SessionConfigError(
            "no session_service session on this request: add service.session_layer() to the "
            "app's middleware"
        )
    return session
