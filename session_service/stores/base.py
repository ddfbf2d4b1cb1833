"""``SessionStoreBase``: the rules every store follows, written once above the stores.

A store (SQLite, PostgreSQL, Redis, memory, or one of your own) subclasses this and writes
only ``_``-prefixed primitives, which receive values that are already checked and encoded:

* a session is filed under :func:`~session_service.storable.at_rest_id` of its id, never the
  id (docs/security.md): every public method hashes the id it is given, and the primitives
  receive, store and look up only that key (a write primitive gets a copy of the record
  addressed by it); records handed back carry the caller's id where the caller gave it
  (``load``, ``create``, ``rotate``), and listings (:mod:`._index_rules`) name sessions by
  handle;
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
* listings come out oldest first, ``(created_at, key)``; every user's listed session has a handle;
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
from ..storable import at_rest_id, check_aware, hot_at_rest_id, storable
from ._codec import encode_json
from ._delta import prepare_delta
from ._index_rules import IndexRules
from ._per_user import PerUserLimit
from ._primitives import StorePrimitives
from ._rules import CREATE_ATTEMPTS, _false, _no_free_id, _none, check_record, filed
from ._rules import IdTaken as IdTaken

if TYPE_CHECKING:
    from ..metrics import SessionMetrics
    from ._cipher import DataCipher


class SessionStoreBase(PerUserLimit, IndexRules, StorePrimitives):
    """The public methods of :class:`~.protocol.SessionStore`, over a store's primitives."""

    kind: ClassVar[str]
    display_url: str
    #: Largest session accepted, as JSON bytes (``None``: no limit); the service sets it.
    max_bytes: int | None = None
    #: ``SESSION_ABSOLUTE_TTL_SECONDS`` (``None``: no absolute limit); the service sets it.
    absolute_ttl: timedelta | None = None
    #: The service's counts (docs/operations.md, "Metrics"); ``None``: no metrics, and each
    #: hook below is that one check.
    _metrics: SessionMetrics | None = None
    #: ``SESSION_ENCRYPTION_KEYS``' cipher (``None``: data stored plain); the service sets it.
    cipher: DataCipher | None = None

    # -- the rules --------------------------------------------------------------------------

    def _read(self, record: SessionRecord, key: str) -> SessionRecord | None:
        """A record as read from the store under ``key``, unsealed and its lifetime applied
        (``None``: past its absolute deadline, or sealed data that does not open)."""
        if self.cipher is not None and not self.cipher.open(record, key):
            return None
        return read_record(record, self.absolute_ttl)

    def _live(self, records: Iterable[SessionRecord]) -> list[SessionRecord]:
        """The live ones of ``records`` as a listing's primitive gave them (each ``id`` the
        stored key), unsealed."""
        now = utcnow()
        cipher, ttl = self.cipher, self.absolute_ttl
        return [
            r
            for r in records
            if (cipher is None or cipher.open(r, r.id)) and read_record(r, ttl, now) is not None
        ]

    def _encode(self, record: SessionRecord, *, handle: bool) -> str:
        """Check ``record`` and return its data as JSON; sets ``record.user_id`` (and, with
        ``handle``, a fresh ``record.handle`` when it has none). Nothing is written when this
        raises :class:`SessionDataError`."""
        user_id = check_record(record)
        stored = stored_data(record)
        if self.cipher is not None:  # sealed for this session (a new id: sealed again)
            stored = self.cipher.seal(at_rest_id(record.id), stored)
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
            if self._metrics is not None:
                self._metrics.invalid += 1
            return _none()
        return self._load_live(session_id)

    async def _load_live(self, session_id: str) -> SessionRecord | None:
        key = hot_at_rest_id(session_id)
        metrics = self._metrics
        if metrics is None:
            record = await self._load_id(session_id, key)
            if record is None:
                return None
            record.id = session_id  # the caller's id: the store holds only its hash
            return self._read(record, key)
        record = await metrics.timed("load", self._load_id(session_id, key))
        if record is not None:
            record.id = session_id
        live = None if record is None else self._read(record, key)
        metrics.count_load(record, live)
        return live

    def _load_id(self, session_id: str, key: str) -> Coroutine[Any, Any, SessionRecord | None]:
        """The ``_load`` of a load by ``session_id`` (filed under ``key``): a store whose ids
        say where their session lives (Redis Cluster's slot tags) reads the id here."""
        return self._load(key)

    def new_id(self, record: SessionRecord) -> str:
        """A fresh id for ``record``, a session about to be created or rotated into
        (:class:`~.protocol.IdMinting`): what the middleware gives a new session or a login,
        and what ``create`` and ``rotate`` draw in place of a taken id. A store whose ids say
        where their session lives shapes it here (Redis Cluster: a signed-in session's id
        names its user's slot, docs/stores.md); it keeps all of
        :func:`~session_service.records.new_session_id`'s randomness."""
        return new_session_id()

    async def create(self, record: SessionRecord) -> SessionRecord:
        """Store a new session, never overwriting: a taken id is replaced by a fresh one
        (set on ``record``). Its absolute lifetime starts now."""
        start_lifetime(record, self.absolute_ttl)
        data = self._encode(record, handle=True)
        for _ in range(CREATE_ATTEMPTS):
            stored = filed(record)
            insert = self._insert(stored, data)
            try:
                await (insert if self._metrics is None else self._metrics.timed("create", insert))
            except IdTaken:
                record.id = self.new_id(record)
                data = self._encode(record, handle=False)
            else:
                if self.max_per_user and record.user_id is not None:
                    await self._limit_user_of(stored.id)
                if self._metrics is not None:
                    self._metrics.created += 1
                return record
        raise _no_free_id()

    async def save(self, record: SessionRecord) -> None:
        """Insert or replace ``record`` (``created_at`` and the device fields of an existing
        session are kept); the expiry never passes ``record.absolute_expiry``."""
        clamp_to_deadline(record)
        data = self._encode(record, handle=True)
        stored = filed(record)
        save = self._save(stored, data)
        await (save if self._metrics is None else self._metrics.timed("save", save))
        if self._metrics is not None:
            self._metrics.saved += 1
        if self.max_per_user and record.user_id is not None:
            await self._limit_user_of(stored.id)

    def update(
        self, record: SessionRecord, *, extend_expiry: bool = True
    ) -> Coroutine[Any, Any, bool]:
        """Rewrite a live session; ``False`` (nothing written) when it is gone or expired, so
        a session revoked while a request held it stays revoked. ``extend_expiry=False``
        keeps the stored expiry; a new one never passes ``record.absolute_expiry``."""
        clamp_to_deadline(record)
        data = self._encode(record, handle=False)
        stored = filed(record)
        update = self._update(stored, data, extend_expiry)
        if self._metrics is not None:
            update = self._metrics.timed("update", update)
        if self.max_per_user and record.user_id is not None:
            return self._bound(stored.id, update)
        return update

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
        # ``storable`` spelled out for the usual ASCII id, as in ``load`` and ``touch``.
        if not (session_id.isascii() and "\x00" not in session_id) and not storable(session_id):
            return _false()
        key = hot_at_rest_id(session_id)
        if self.cipher is not None:
            changed = self.cipher.seal(key, changed)
        delta = prepare_delta(changed, removed)
        patch = self._patch(key, delta, expiry_date)
        if self._metrics is not None:
            patch = self._metrics.timed("patch", patch)
        if self.max_per_user and delta.owner_changes and delta.owner is not None:
            return self._bound(key, patch)
        return patch

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
        key = hot_at_rest_id(session_id)
        if self._metrics is not None:
            return self._metrics.timed("touch", self._touch(key, expiry_date, last_seen))
        return self._touch(key, expiry_date, last_seen)

    def seen(self, session_id: str, when: datetime) -> Coroutine[Any, Any, bool]:
        """Set a live session's ``last_seen`` alone, never its expiry; ``False`` if gone."""
        if when.tzinfo is None:
            check_aware(when)  # raises
        if not storable(session_id):
            return _false()
        key = hot_at_rest_id(session_id)
        if self._metrics is not None:
            return self._metrics.timed("seen", self._seen(key, when))
        return self._seen(key, when)

    async def rotate(self, old_id: str, record: SessionRecord) -> bool:
        """Move a live session to ``record.id`` (a login) at once; ``False`` (nothing
        written) if it was revoked meanwhile. A taken new id is replaced by a fresh one.
        A login starts a new absolute lifetime."""
        start_lifetime(record, self.absolute_ttl)
        data = self._encode(record, handle=True)
        if not storable(old_id):
            return False
        old_key = at_rest_id(old_id)
        for _ in range(CREATE_ATTEMPTS):
            stored = filed(record)
            rotate = self._rotate(old_key, stored, data)
            try:
                moved = await (
                    rotate if self._metrics is None else self._metrics.timed("rotate", rotate)
                )
            except IdTaken:
                record.id = self.new_id(record)
                data = self._encode(record, handle=False)
                continue
            if moved and self._metrics is not None:
                self._metrics.rotated += 1
            if moved and self.max_per_user and record.user_id and not self._limits_in_rotate:
                await self._limit_user_of(stored.id)
            return moved
        raise _no_free_id()

    async def delete(self, session_id: str) -> None:
        """Remove the session; no error when it is already gone."""
        if storable(session_id):
            delete = self._delete(at_rest_id(session_id))
            await (delete if self._metrics is None else self._metrics.timed("delete", delete))
            if self._metrics is not None:
                self._metrics.revoked += 1
