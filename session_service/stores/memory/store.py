"""``MemorySessionStore`` (``memory://``): one process, for tests and development.

It keeps the SQL stores' rules so that a test green here is green on PostgreSQL: data goes
through the same JSON encoder and size limit (and is decoded again on every load, so a loaded
record is a private copy), expired sessions are never served but stay until
``delete_expired()``, ``create`` never overwrites, and ``update``/``touch``/``rotate`` never
bring back a revoked session.

Stores opened on the same URL in one process share their sessions (a process-wide registry
keyed by the URL), like two app instances on one database. Use ``memory://NAME`` to keep
separate sets apart. The store is bounded: when ``max_sessions`` are stored, expired ones are
purged, and if it is still full a new session is refused with ``SessionStoreUnavailable``
(503): a live login is never evicted to make room.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from ...devices import HANDLE_LENGTH, IP_LENGTH, USER_AGENT_LENGTH, new_handle
from ...errors import SessionConfigError, SessionStoreUnavailable
from ...records import SessionRecord, new_session_id, user_id_of, utcnow
from ...settings import DEFAULT_MEMORY_MAX_SESSIONS, normalize_db_url
from .._codec import check_text, decode_data, encode_data
from .._delta import prepare_delta
from ..sql.schema import ID_LENGTH, PRINCIPAL_LENGTH
from .admin import MemoryAdminOps
from .space import Entry, record_of, space_of, utc

_CREATE_ATTEMPTS = 5


class MemorySessionStore(MemoryAdminOps):
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

    # -- lifecycle (nothing to connect, migrate or release) -----------------------------------

    async def ping(self) -> None:
        return None

    async def migrate(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- one session ---------------------------------------------------------------------

    def _entry(self, record: SessionRecord, now: datetime, created: datetime) -> Entry:
        check_text("the session id", record.id, ID_LENGTH)
        check_text("tenant_id", record.tenant_id, PRINCIPAL_LENGTH)
        user_id = user_id_of(record.data)
        check_text("session['user_id']", user_id, PRINCIPAL_LENGTH)
        check_text("the ip", record.ip, IP_LENGTH)
        check_text("the user agent", record.user_agent, USER_AGENT_LENGTH)
        check_text("the handle", record.handle, HANDLE_LENGTH)
        data = encode_data(record.data, self.max_bytes)
        expiry = utc(record.expiry_date)
        seen = None if record.last_seen is None else utc(record.last_seen)
        record.user_id = user_id
        record.handle = record.handle or new_handle()
        return Entry(data, expiry, user_id, record.tenant_id, created, now,
                      record.ip, record.user_agent, seen, record.handle)  # fmt: skip

    def _make_room(self, now: datetime) -> None:
        space = self._space
        if len(space.sessions) < self.max_sessions:
            return
        space.purge_expired(now)
        if len(space.sessions) >= self.max_sessions:
            raise SessionStoreUnavailable(
                f"the in-memory session store {self.display_url} is full "
                f"({self.max_sessions} live sessions, SESSION_MEMORY_MAX_SESSIONS); "
                "a new session is refused rather than evicting a live one"
            )

    async def load(self, session_id: str) -> SessionRecord | None:
        """The live session with this id (a private copy), or ``None``."""
        with self._space.lock:
            entry = self._space.live(session_id, utcnow())
        return None if entry is None else record_of(session_id, entry)

    async def create(self, record: SessionRecord) -> SessionRecord:
        """Store a new session; on an id collision, a fresh id (set on ``record``)."""
        now = utcnow()
        entry = self._entry(record, now, now)
        with self._space.lock:
            self._make_room(now)
            for _ in range(_CREATE_ATTEMPTS):
                if record.id not in self._space.sessions:
                    self._space.put(record.id, entry)
                    return record
                record.id = new_session_id()
        raise RuntimeError("could not find a free session id; the random source is broken")

    async def save(self, record: SessionRecord) -> None:
        """Insert or replace (``created_at`` survives a replace, as in SQL)."""
        now = utcnow()
        entry = self._entry(record, now, now)
        with self._space.lock:
            old = self._space.sessions.get(record.id)
            if old is None:
                self._make_room(now)
            else:
                entry.created_at = old.created_at
                entry.keep_device_of(old)
            self._space.put(record.id, entry)

    async def update(self, record: SessionRecord, *, extend_expiry: bool = True) -> bool:
        """Rewrite a live session; ``False`` (nothing written) when it is gone or expired."""
        now = utcnow()
        entry = self._entry(record, now, now)
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

    async def patch(
        self,
        session_id: str,
        changed: Mapping[str, Any],
        removed: Collection[str],
        *,
        expiry_date: datetime | None = None,
    ) -> bool:
        """Merge changed and removed keys into a live session under the lock; ``False`` when
        it is gone or expired. The merged data passes the same encoder and size limit."""
        delta = prepare_delta(changed, removed)
        expiry = None if expiry_date is None else utc(expiry_date)
        now = utcnow()
        with self._space.lock:
            old = self._space.live(session_id, now)
            if old is None:
                return False
            data = encode_data(delta.apply(decode_data(old.data)), self.max_bytes)
            user_id = delta.owner if delta.owner_changes else old.user_id
            entry = Entry(data, expiry or old.expiry, user_id, old.tenant_id, old.created_at, now)
            entry.keep_device_of(old)
            if user_id == old.user_id:
                self._space.sessions[session_id] = entry  # no index entry changes
            else:
                self._space.put(session_id, entry)
            return True

    async def touch(
        self, session_id: str, expiry_date: datetime, *, last_seen: datetime | None = None
    ) -> bool:
        """Move a live session's expiry (and ``last_seen``); ``False`` when it is gone."""
        expiry_date = utc(expiry_date)
        now = utcnow()
        with self._space.lock:
            entry = self._space.live(session_id, now)
            if entry is None:
                return False
            entry.expiry, entry.updated_at = expiry_date, now
            entry.last_seen = entry.last_seen if last_seen is None else utc(last_seen)
            return True

    async def seen(self, session_id: str, when: datetime) -> bool:
        """Set a live session's ``last_seen`` alone; ``False`` when it is gone."""
        with self._space.lock:
            entry = self._space.live(session_id, utcnow())
            if entry is not None:
                entry.last_seen = utc(when)
            return entry is not None

    async def rotate(self, old_id: str, record: SessionRecord) -> bool:
        """Move a live session to ``record.id`` at once; ``False`` if it was revoked."""
        now = utcnow()
        entry = self._entry(record, now, now)
        tracked = record.last_seen is not None  # a login with tracking on: this device
        with self._space.lock:
            old = self._space.live(old_id, now)
            if old is None:
                return False
            if not tracked:
                entry.keep_device_of(old)
            entry.handle = old.handle or entry.handle
            for _ in range(_CREATE_ATTEMPTS):
                if record.id not in self._space.sessions:
                    self._space.drop(old_id)
                    self._space.put(record.id, entry)
                    return True
                record.id = new_session_id()
        raise RuntimeError("could not find a free session id; the random source is broken")

    async def delete(self, session_id: str) -> None:
        with self._space.lock:
            self._space.drop(session_id)
