"""``SessionStoreBase``: the rules every store follows, written once above the stores.

A store (SQLite, PostgreSQL, Redis, memory, or one of your own) subclasses this and writes
only ``_``-prefixed primitives, which receive values that are already checked and encoded:

* a record is checked and encoded here (:meth:`_encode`): the id, user, tenant and device
  fields within their lengths and storable (:mod:`session_service.storable`), ``user_id``
  taken from the data (and set on the record), timezone-aware datetimes, the data as JSON
  within ``SESSION_MAX_BYTES``, and a fresh handle for a record that has none;
* with ``SESSION_ENCRYPTION_KEYS`` (:attr:`SessionStoreBase.cipher`) each value is sealed
  before it is encoded and opened when read (:mod:`._cipher`), for a patch alike;
* an id or a handle that no store could hold reads as missing (``None``, ``False``, ``0``,
  ``[]``), so a hostile cookie costs no round trip and cannot fail as if the store were down;
* a primitive that finds the new id taken raises :class:`IdTaken`; the one loop here draws
  another id, and a random source that keeps colliding is a ``SessionStoreUnavailable``;
* arguments are checked before any I/O (batch sizes, ``untenanted_only`` with a tenant);
* listings come out oldest first, ``(created_at, id)``, and every listed session has a handle;
* a session's lifetime (:mod:`session_service.lifetime_rules`): its own idle TTL and cookie
  kind travel in its data under a reserved key; with ``absolute_ttl`` set, every read ends a
  session whose start (``created_at``, reset by a rotation) is that long ago and reports the
  earlier deadline, and every write clamps the stored expiry to it;
* with :attr:`SessionStoreBase.max_per_user` (``SESSION_MAX_PER_USER``), a save that binds a
  session to a user (``create``, ``save``, ``update``, ``rotate``, or a ``patch`` that sets
  ``user_id``) is followed by the store's atomic ``_evict_extra`` (:mod:`._per_user`).

The per-request methods (``load``, ``update``, ``patch``, ``touch``, ``seen``) are plain
functions that check, then return the primitive's coroutine for the caller to await: the
rules cost no extra coroutine on the path every request takes.
"""

from __future__ import annotations

from collections.abc import Collection, Coroutine, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from ..devices import new_handle
from ..lifetime_rules import (
    clamp_to_deadline,
    patched_lifetime,
    read_record,
    start_lifetime,
    stored_data,
)
from ..records import SessionRecord, new_session_id, utcnow
from ..storable import check_aware, storable
from ._codec import encode_json
from ._delta import Delta, prepare_delta
from ._per_user import PerUserLimit
from ._rules import (
    CREATE_ATTEMPTS,
    _false,
    _no_free_id,
    _none,
    _scope_ok,
    check_batch_size,
    check_record,
    check_untenanted_only,
    oldest_first,
)
from ._rules import IdTaken as IdTaken
from .protocol import DEFAULT_BATCH_SIZE, ProgressCallback, StoreStats

if TYPE_CHECKING:
    from ._cipher import DataCipher


class SessionStoreBase(PerUserLimit):
    """The public methods of :class:`~.protocol.SessionStore`, over a store's primitives."""

    kind: ClassVar[str]
    display_url: str
    #: Largest session accepted, as JSON bytes (``None``: no limit); the service sets it.
    max_bytes: int | None = None
    #: ``SESSION_ABSOLUTE_TTL_SECONDS`` (``None``: no absolute limit); the service sets it.
    absolute_ttl: timedelta | None = None
    #: ``SESSION_ENCRYPTION_KEYS``' cipher (``None``: data stored plain); the service sets it.
    cipher: DataCipher | None = None

    # -- the rules --------------------------------------------------------------------------

    def _read(self, record: SessionRecord, now: datetime) -> SessionRecord | None:
        """A record as read from the store, unsealed and its lifetime applied (``None``: past
        its absolute deadline, or sealed data that does not open)."""
        if self.cipher is not None and not self.cipher.open(record):
            return None
        return read_record(record, self.absolute_ttl, now)

    def _live(self, records: Iterable[SessionRecord]) -> list[SessionRecord]:
        now = utcnow()
        return [r for r in records if self._read(r, now) is not None]

    def _encode(self, record: SessionRecord, *, handle: bool) -> str:
        """Check ``record`` and return its data as JSON; sets ``record.user_id`` (and, with
        ``handle``, a fresh ``record.handle`` when it has none). Nothing is written when this
        raises :class:`SessionDataError`."""
        user_id = check_record(record)
        stored = stored_data(record)
        if self.cipher is not None:  # sealed for this session (a new id: sealed again)
            stored = self.cipher.seal(record.id, stored)
        data = encode_json(stored, self.max_bytes)
        record.user_id = user_id
        if handle and record.handle is None:
            record.handle = new_handle()
        return data

    # -- one session (the per-request path) ---------------------------------------------------

    def load(self, session_id: str) -> Coroutine[Any, Any, SessionRecord | None]:
        """The live session with this id, or ``None`` when missing or expired (a private
        copy: the caller may change it freely)."""
        # ``storable`` spelled out for the usual ASCII id: a function call less per request.
        if not (session_id.isascii() and "\x00" not in session_id) and not storable(session_id):
            return _none()
        return self._load_live(session_id)

    async def _load_live(self, session_id: str) -> SessionRecord | None:
        record = await self._load(session_id)
        return None if record is None else self._read(record, utcnow())

    async def create(self, record: SessionRecord) -> SessionRecord:
        """Store a new session, never overwriting: a taken id is replaced by a fresh one
        (set on ``record``). Its absolute lifetime starts now."""
        start_lifetime(record, self.absolute_ttl)
        data = self._encode(record, handle=True)
        for _ in range(CREATE_ATTEMPTS):
            try:
                await self._insert(record, data)
            except IdTaken:
                record.id = new_session_id()
                data = self._encode(record, handle=False)
            else:
                if self.max_per_user and record.user_id is not None:
                    await self._evict_extra(record.id, self.max_per_user)
                return record
        raise _no_free_id()

    async def save(self, record: SessionRecord) -> None:
        """Insert or replace ``record`` (``created_at`` and the device fields of an existing
        session are kept); the expiry never passes ``record.absolute_expiry``."""
        clamp_to_deadline(record)
        await self._save(record, self._encode(record, handle=True))
        if self.max_per_user and record.user_id is not None:
            await self._evict_extra(record.id, self.max_per_user)

    def update(
        self, record: SessionRecord, *, extend_expiry: bool = True
    ) -> Coroutine[Any, Any, bool]:
        """Rewrite a live session; ``False`` (nothing written) when it is gone or expired, so
        a session revoked while a request held it stays revoked. ``extend_expiry=False``
        keeps the stored expiry; a new one never passes ``record.absolute_expiry``."""
        clamp_to_deadline(record)
        data = self._encode(record, handle=False)
        if self.max_per_user and record.user_id is not None:
            return self._bound(record.id, self._update(record, data, extend_expiry))
        return self._update(record, data, extend_expiry)

    def patch(
        self,
        session_id: str,
        changed: Mapping[str, Any],
        removed: Collection[str],
        *,
        expiry_date: datetime | None = None,
        lifetime: tuple[int | None, bool | None] | None = None,
    ) -> Coroutine[Any, Any, bool]:
        """Set ``changed`` and remove ``removed`` in a live session in one atomic step,
        every other key kept as stored; ``False`` (nothing written) when it is gone.
        ``lifetime`` (idle TTL, cookie kind) replaces the session's own, in the same step."""
        if expiry_date is not None and expiry_date.tzinfo is None:
            check_aware(expiry_date)  # raises
        changed, removed = patched_lifetime(changed, removed, lifetime)
        if not storable(session_id):
            return _false()
        if self.cipher is not None:
            changed = self.cipher.seal(session_id, changed)
        delta = prepare_delta(changed, removed)
        if self.max_per_user and delta.owner_changes and delta.owner is not None:
            return self._bound(session_id, self._patch(session_id, delta, expiry_date))
        return self._patch(session_id, delta, expiry_date)

    def touch(
        self, session_id: str, expiry_date: datetime, *, last_seen: datetime | None = None
    ) -> Coroutine[Any, Any, bool]:
        """Move a live session's expiry (and ``last_seen`` when given); ``False`` if gone."""
        if expiry_date.tzinfo is None:
            check_aware(expiry_date)  # raises
        if last_seen is not None and last_seen.tzinfo is None:
            check_aware(last_seen)  # raises
        if not (session_id.isascii() and "\x00" not in session_id) and not storable(session_id):
            return _false()
        return self._touch(session_id, expiry_date, last_seen)

    def seen(self, session_id: str, when: datetime) -> Coroutine[Any, Any, bool]:
        """Set a live session's ``last_seen`` alone, never its expiry; ``False`` if gone."""
        if when.tzinfo is None:
            check_aware(when)  # raises
        if not storable(session_id):
            return _false()
        return self._seen(session_id, when)

    async def rotate(self, old_id: str, record: SessionRecord) -> bool:
        """Move a live session to ``record.id`` (a login) at once; ``False`` (nothing
        written) if it was revoked meanwhile. A taken new id is replaced by a fresh one.
        A login starts a new absolute lifetime."""
        start_lifetime(record, self.absolute_ttl)
        data = self._encode(record, handle=True)
        if not storable(old_id):
            return False
        for _ in range(CREATE_ATTEMPTS):
            try:
                moved = await self._rotate(old_id, record, data)
            except IdTaken:
                record.id = new_session_id()
                data = self._encode(record, handle=False)
                continue
            if moved and self.max_per_user and record.user_id and not self._limits_in_rotate:
                await self._evict_extra(record.id, self.max_per_user)
            return moved
        raise _no_free_id()

    async def delete(self, session_id: str) -> None:
        """Remove the session; no error when it is already gone."""
        if storable(session_id):
            await self._delete(session_id)

    # -- by user, by tenant, everything (``tenant_id=None``: every tenant) -------------------

    async def clear_sessions_for_user(
        self,
        user_id: str | int,
        *,
        tenant_id: str | None = None,
        keep: str | None = None,
        untenanted_only: bool = False,
    ) -> int:
        """Delete the user's sessions but ``keep`` (in one tenant, in none with
        ``untenanted_only``, or in all) in one atomic step; returns how many. With ``keep``,
        nothing unless ``keep`` is still a live session of that user in that scope."""
        check_untenanted_only(tenant_id, untenanted_only)
        user = str(user_id)
        if not _scope_ok(user, tenant_id) or (keep is not None and not storable(keep)):
            return 0
        return await self._clear_user(user, tenant_id, untenanted_only, keep)

    async def revoke_user_session(
        self, user_id: str | int, handle: str, *, tenant_id: str | None = None
    ) -> bool:
        """Delete the user's live session named ``handle``; ``False`` when the user has none
        (a handle of another user's session, or of an expired one, deletes nothing)."""
        user = str(user_id)
        if not handle or not storable(handle) or not _scope_ok(user, tenant_id):
            return False
        return await self._revoke(user, handle, tenant_id)

    async def count_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        """How many live sessions the user has (in one tenant, or in all)."""
        user = str(user_id)
        if not _scope_ok(user, tenant_id):
            return 0
        if self.absolute_ttl is not None:  # a session past its deadline is not live
            return len(self._live(await self._list_user(user, tenant_id)))
        return await self._count_user(user, tenant_id)

    async def get_session_ids_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[str]:
        """The ids of the user's live sessions, oldest first."""
        user = str(user_id)
        if not _scope_ok(user, tenant_id):
            return []
        return [r.id for r in oldest_first(self._live(await self._list_user(user, tenant_id)))]

    async def list_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[SessionRecord]:
        """The user's live sessions, oldest first, with their timestamps and device fields,
        each with a handle (a session stored before handles existed is given one now)."""
        user = str(user_id)
        if not _scope_ok(user, tenant_id):
            return []
        records = oldest_first(self._live(await self._list_user(user, tenant_id)))
        for record in records:
            if record.handle is None:
                record.handle = await self._name_session(record.id, new_handle())
        return [r for r in records if r.handle is not None]

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]:
        """Every live session (of one tenant), oldest first, for debugging."""
        if tenant_id is not None and not storable(tenant_id):
            return []
        return oldest_first(self._live(await self._dump(tenant_id)))

    async def clear_all_sessions(
        self,
        *,
        tenant_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Delete every session (of one tenant) in batches; returns how many."""
        check_batch_size(batch_size)
        if tenant_id is not None and not storable(tenant_id):
            return 0
        return await self._clear_all(tenant_id, batch_size, on_progress)

    # -- expiry -----------------------------------------------------------------------------

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int:
        """Remove expired sessions in batches of ``batch_size``; returns how many."""
        check_batch_size(batch_size)
        return await self._delete_expired(batch_size, on_progress)

    async def delete_expired_if_leader(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
        """:meth:`delete_expired` on one instance at a time; ``None`` if another is cleaning."""
        check_batch_size(batch_size)
        return await self._delete_expired_as_leader(batch_size)

    # -- primitives a store writes (on checked, encoded values) ------------------------------

    async def _load(self, session_id: str) -> SessionRecord | None:
        raise NotImplementedError

    async def _insert(self, record: SessionRecord, data: str) -> None:
        """Store a new session; raise :class:`IdTaken` if ``record.id`` is taken."""
        raise NotImplementedError

    async def _save(self, record: SessionRecord, data: str) -> None:
        raise NotImplementedError

    async def _update(self, record: SessionRecord, data: str, extend_expiry: bool) -> bool:
        raise NotImplementedError

    async def _patch(self, session_id: str, delta: Delta, expiry_date: datetime | None) -> bool:
        raise NotImplementedError

    async def _touch(
        self, session_id: str, expiry_date: datetime, last_seen: datetime | None
    ) -> bool:
        raise NotImplementedError

    async def _seen(self, session_id: str, when: datetime) -> bool:
        raise NotImplementedError

    async def _rotate(self, old_id: str, record: SessionRecord, data: str) -> bool:
        """Move the live session ``old_id`` to ``record.id``; ``False`` if it is gone (or past
        its absolute deadline: ``lifetime_rules.earliest_start``); raise :class:`IdTaken` if
        ``record.id`` is taken."""
        raise NotImplementedError

    async def _delete(self, session_id: str) -> None:
        raise NotImplementedError

    async def _clear_user(
        self, user_id: str, tenant_id: str | None, untenanted_only: bool, keep: str | None
    ) -> int:
        raise NotImplementedError

    async def _revoke(self, user_id: str, handle: str, tenant_id: str | None) -> bool:
        raise NotImplementedError

    async def _list_user(self, user_id: str, tenant_id: str | None) -> list[SessionRecord]:
        """The user's live sessions (in one tenant, or in all), in any order."""
        raise NotImplementedError

    async def _count_user(self, user_id: str, tenant_id: str | None) -> int:
        return len(await self._list_user(user_id, tenant_id))

    async def _name_session(self, session_id: str, handle: str) -> str | None:
        """Give a live session without a handle ``handle``; its handle afterwards (another
        listing's, if it was first), or ``None`` if it is gone."""
        raise NotImplementedError

    async def _dump(self, tenant_id: str | None) -> list[SessionRecord]:
        raise NotImplementedError

    async def _clear_all(
        self, tenant_id: str | None, batch_size: int, on_progress: ProgressCallback | None
    ) -> int:
        raise NotImplementedError

    async def _delete_expired(self, batch_size: int, on_progress: ProgressCallback | None) -> int:
        raise NotImplementedError

    async def _delete_expired_as_leader(self, batch_size: int) -> int | None:
        """Only one instance at a time needs a lock: by default every instance cleans."""
        return await self._delete_expired(batch_size, None)

    # -- statistics (each store counts its own way) ----------------------------------------

    async def stats(self) -> StoreStats:
        raise NotImplementedError
