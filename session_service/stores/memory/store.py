"""``MemorySessionStore`` (``memory://``): one process, for tests and development.

It keeps the rules of every store (:class:`~..base.SessionStoreBase`), so that a test green
here is green on PostgreSQL: data goes through the same JSON encoder and size limit (and is
decoded again on every load, so a loaded record is a private copy), expired sessions are never
served but stay until ``delete_expired()``, ``create`` never overwrites, and
``update``/``touch``/``rotate`` never bring back a revoked session.

Stores opened on the same URL in one process share their sessions (a process-wide registry
keyed by the URL), like two app instances on one database. Use ``memory://NAME`` to keep
separate sets apart. The store is bounded: when ``max_sessions`` are stored, expired ones are
purged, and if it is still full a new session is refused with ``SessionStoreUnavailable``
(503): a live login is never evicted to make room.
"""

from __future__ import annotations

from datetime import datetime

from ...errors import SessionConfigError, SessionStoreUnavailable
from ...lifetime_rules import earliest_start
from ...records import SessionRecord, utcnow
from ...settings import DEFAULT_MEMORY_MAX_SESSIONS, normalize_db_url
from .._codec import decode_data, encode_json
from .._delta import Delta
from ..base import IdTaken
from .limits import MemoryLimitStorage, memory_storage_of
from .space import Entry, record_of, space_of, utc
from .transfer import MemoryTransferOps


class MemorySessionStore(MemoryTransferOps):
    """Sessions in this process's memory; see the module docstring for what it guarantees."""

    kind = "memory"

    def __init__(
        self,
        url: str = "memory://",
        *,
        max_bytes: int | None = None,
        max_sessions: int = DEFAULT_MEMORY_MAX_SESSIONS,
        timeout: float | None = None,
    ) -> None:
        kind, normalized = normalize_db_url(url)
        if kind != "memory":
            raise SessionConfigError(f"MemorySessionStore cannot open a {kind} URL")
        if max_sessions < 1:
            raise SessionConfigError("max_sessions must be at least 1")
        self.display_url = normalized
        self.max_bytes = max_bytes
        self.max_sessions = max_sessions
        self._space = space_of(normalized)

    def __repr__(self) -> str:
        return f"MemorySessionStore({self.display_url!r})"

    def limit_storage(self) -> MemoryLimitStorage:
        """The rate limits and counters of this store's space (shared by its URL)."""
        return memory_storage_of(self._space)

    # -- lifecycle (nothing to connect, migrate or release) -----------------------------------

    async def ping(self) -> None:
        """Always answers: the sessions are in this process."""
        return None

    async def migrate(self) -> None:
        """Nothing to do: memory has no schema (kept for the protocol)."""
        return None

    async def close(self) -> None:
        """Nothing to release: the sessions stay for other stores on the same URL."""
        return None

    # -- one session (primitives: the record is checked and encoded already) -----------------

    @staticmethod
    def _entry(record: SessionRecord, data: str, now: datetime) -> Entry:
        seen = None if record.last_seen is None else utc(record.last_seen)
        return Entry(data, utc(record.expiry_date), record.user_id, record.tenant_id, now, now,
                     record.ip, record.user_agent, seen, record.handle)  # fmt: skip

    def _make_room(self, now: datetime) -> None:
        space = self._space
        if len(space.sessions) < self.max_sessions:
            return
        space.purge_expired(now)
        if len(space.sessions) >= self.max_sessions:
            raise SessionStoreUnavailable(
                f"the in-memory session store {self.display_url} is full "
                f"({self.max_sessions:,} live sessions, SESSION_MEMORY_MAX_SESSIONS); "
                "a new session is refused rather than evicting a live one"
            )

    async def _load(self, session_id: str) -> SessionRecord | None:
        with self._space.lock:
            entry = self._space.live(session_id, utcnow())
        return None if entry is None else record_of(session_id, entry)

    async def _insert(self, record: SessionRecord, data: str) -> None:
        now = utcnow()
        entry = self._entry(record, data, now)
        with self._space.lock:
            if record.id in self._space.sessions:
                raise IdTaken
            self._make_room(now)
            self._space.put(record.id, entry)

    async def _save(self, record: SessionRecord, data: str) -> None:
        now = utcnow()
        entry = self._entry(record, data, now)
        with self._space.lock:
            old = self._space.sessions.get(record.id)
            if old is None:
                self._make_room(now)
            else:
                entry.created_at = old.created_at
                entry.keep_device_of(old)
            self._space.put(record.id, entry)

    async def _update(self, record: SessionRecord, data: str, extend_expiry: bool) -> bool:
        now = utcnow()
        entry = self._entry(record, data, now)
        with self._space.lock:
            old = self._space.live(record.id, now)
            if old is None:
                return False
            entry.created_at, entry.tenant_id = old.created_at, old.tenant_id
            entry.keep_device_of(old)
            if not extend_expiry:
                entry.expiry = old.expiry
            self._space.put(record.id, entry)
            return True

    async def _patch(self, session_id: str, delta: Delta, expiry_date: datetime | None) -> bool:
        expiry = None if expiry_date is None else utc(expiry_date)
        now = utcnow()
        with self._space.lock:
            old = self._space.live(session_id, now)
            if old is None:
                return False
            stored = decode_data(old.data)
            if delta.expected and not delta.holds(stored):
                return False
            data = encode_json(delta.apply(stored), self.max_bytes)
            user_id = delta.owner if delta.owner_changes else old.user_id
            entry = Entry(data, expiry or old.expiry, user_id, old.tenant_id, old.created_at, now)
            entry.keep_device_of(old)
            if user_id == old.user_id:
                self._space.sessions[session_id] = entry  # no index entry changes
            else:
                self._space.put(session_id, entry)
            return True

    async def _touch(
        self, session_id: str, expiry_date: datetime, last_seen: datetime | None
    ) -> bool:
        expiry_date = utc(expiry_date)
        now = utcnow()
        with self._space.lock:
            entry = self._space.live(session_id, now)
            if entry is None:
                return False
            entry.expiry, entry.updated_at = expiry_date, now
            entry.last_seen = entry.last_seen if last_seen is None else utc(last_seen)
            return True

    async def _seen(self, session_id: str, when: datetime) -> bool:
        with self._space.lock:
            entry = self._space.live(session_id, utcnow())
            if entry is not None:
                entry.last_seen = utc(when)
            return entry is not None

    async def _rotate(self, old_id: str, record: SessionRecord, data: str) -> bool:
        now = utcnow()
        entry = self._entry(record, data, now)
        tracked = record.last_seen is not None  # a login with tracking on: this device
        start = earliest_start(self.absolute_ttl, now)
        with self._space.lock:
            old = self._space.live(old_id, now)
            if old is None or (start is not None and old.created_at <= start):
                return False
            if record.id in self._space.sessions:
                raise IdTaken
            if not tracked:
                entry.keep_device_of(old)
            entry.handle = old.handle or entry.handle
            self._space.drop(old_id)
            self._space.put(record.id, entry)
            return True

    async def _delete(self, session_id: str) -> None:
        with self._space.lock:
            self._space.drop(session_id)
