"""The in-memory store (``memory://``): one process, for tests and development.

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

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..devices import HANDLE_LENGTH, IP_LENGTH, USER_AGENT_LENGTH, new_handle
from ..errors import SessionConfigError, SessionDataError, SessionStoreUnavailable
from ..records import SessionRecord, new_session_id, user_id_of, utcnow
from ..settings import DEFAULT_MEMORY_MAX_SESSIONS, normalize_db_url
from ._codec import check_text, decode_data, encode_data
from ._delta import prepare_delta
from .protocol import (
    DEFAULT_BATCH_SIZE,
    ProgressCallback,
    StoreStats,
    check_batch_size,
    check_untenanted_only,
)
from .sql.schema import ID_LENGTH, PRINCIPAL_LENGTH

_CREATE_ATTEMPTS = 5


@dataclass(slots=True)
class _Entry:
    data: str  # encoded JSON: every load decodes a fresh copy
    expiry: datetime
    user_id: str | None
    tenant_id: str | None
    created_at: datetime
    updated_at: datetime
    # Device fields (see session_service.devices): kept by every rewrite but a login's rotate.
    ip: str | None = None
    user_agent: str | None = None
    last_seen: datetime | None = None
    handle: str | None = None

    def keep_device_of(self, old: _Entry) -> None:
        self.ip, self.user_agent, self.handle = old.ip, old.user_agent, old.handle
        self.last_seen = self.last_seen or old.last_seen


class _Space:
    """The sessions of one URL, with the user and tenant indexes that keep clear-by-user and
    per-tenant operations off a full scan. Every operation holds the lock for its whole
    duration (``TestClient`` runs the app on another thread's event loop)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, _Entry] = {}
        self.by_owner: dict[tuple[str | None, str], set[str]] = {}
        self.tenants_of: dict[str, set[str | None]] = {}
        self.by_tenant: dict[str | None, set[str]] = {}

    def put(self, sid: str, entry: _Entry) -> None:
        self.drop(sid)
        self.sessions[sid] = entry
        self.by_tenant.setdefault(entry.tenant_id, set()).add(sid)
        if entry.user_id is not None:
            self.by_owner.setdefault((entry.tenant_id, entry.user_id), set()).add(sid)
            self.tenants_of.setdefault(entry.user_id, set()).add(entry.tenant_id)

    def drop(self, sid: str) -> _Entry | None:
        entry = self.sessions.pop(sid, None)
        if entry is None:
            return None
        _discard(self.by_tenant, entry.tenant_id, sid)
        if entry.user_id is not None:
            _discard(self.by_owner, (entry.tenant_id, entry.user_id), sid)
            if (entry.tenant_id, entry.user_id) not in self.by_owner:
                _discard(self.tenants_of, entry.user_id, entry.tenant_id)
        return entry

    def owned(self, user_id: str, tenant_id: str | None, any_tenant: bool) -> list[str]:
        tenants = self.tenants_of.get(user_id, set()) if any_tenant else {tenant_id}
        return [sid for t in tenants for sid in self.by_owner.get((t, user_id), ())]

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        expired = [sid for sid, e in self.sessions.items() if e.expiry <= now]
        for sid in expired[:limit]:
            self.drop(sid)
        return len(expired[:limit])


def _discard(index: dict[Any, set[Any]], key: Any, value: Any) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(value)
        if not members:
            del index[key]


_REGISTRY: dict[str, _Space] = {}
_REGISTRY_LOCK = threading.Lock()


def _space(url: str) -> _Space:
    with _REGISTRY_LOCK:
        return _REGISTRY.setdefault(url, _Space())


def forget(url: str) -> None:
    """Drop every session stored under ``url`` in this process (for test teardown)."""
    with _REGISTRY_LOCK:
        _REGISTRY.pop(normalize_db_url(url)[1], None)


class MemorySessionStore:
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
        self._space = _space(normalized)

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

    def _entry(self, record: SessionRecord, now: datetime, created: datetime) -> _Entry:
        check_text("the session id", record.id, ID_LENGTH)
        check_text("tenant_id", record.tenant_id, PRINCIPAL_LENGTH)
        user_id = user_id_of(record.data)
        check_text("session['user_id']", user_id, PRINCIPAL_LENGTH)
        check_text("the ip", record.ip, IP_LENGTH)
        check_text("the user agent", record.user_agent, USER_AGENT_LENGTH)
        check_text("the handle", record.handle, HANDLE_LENGTH)
        data = encode_data(record.data, self.max_bytes)
        expiry = _utc(record.expiry_date)
        seen = None if record.last_seen is None else _utc(record.last_seen)
        record.user_id = user_id
        record.handle = record.handle or new_handle()
        return _Entry(data, expiry, user_id, record.tenant_id, created, now,
                      record.ip, record.user_agent, seen, record.handle)  # fmt: skip

    def _live(self, sid: str, now: datetime) -> _Entry | None:
        entry = self._space.sessions.get(sid)
        return entry if entry is not None and entry.expiry > now else None

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
            entry = self._live(session_id, utcnow())
        return None if entry is None else _record(session_id, entry)

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
            old = self._live(record.id, now)
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
        expiry = None if expiry_date is None else _utc(expiry_date)
        now = utcnow()
        with self._space.lock:
            old = self._live(session_id, now)
            if old is None:
                return False
            data = encode_data(delta.apply(decode_data(old.data)), self.max_bytes)
            user_id = delta.owner if delta.owner_changes else old.user_id
            entry = _Entry(data, expiry or old.expiry, user_id, old.tenant_id, old.created_at, now)
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
        expiry_date = _utc(expiry_date)
        now = utcnow()
        with self._space.lock:
            entry = self._live(session_id, now)
            if entry is None:
                return False
            entry.expiry, entry.updated_at = expiry_date, now
            entry.last_seen = entry.last_seen if last_seen is None else _utc(last_seen)
            return True

    async def seen(self, session_id: str, when: datetime) -> bool:
        """Set a live session's ``last_seen`` alone; ``False`` when it is gone."""
        with self._space.lock:
            entry = self._live(session_id, utcnow())
            if entry is not None:
                entry.last_seen = _utc(when)
            return entry is not None

    async def rotate(self, old_id: str, record: SessionRecord) -> bool:
        """Move a live session to ``record.id`` at once; ``False`` if it was revoked."""
        now = utcnow()
        entry = self._entry(record, now, now)
        tracked = record.last_seen is not None  # a login with tracking on: this device
        with self._space.lock:
            old = self._live(old_id, now)
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

    # -- by user, by tenant, everything -------------------------------------------------------

    async def clear_sessions_for_user(
        self,
        user_id: str | int,
        *,
        tenant_id: str | None = None,
        keep: str | None = None,
        untenanted_only: bool = False,
    ) -> int:
        """Delete every session of ``user_id`` (expired ones too; in one tenant, in none with
        ``untenanted_only``, or in all) but ``keep``; returns how many. With ``keep``, nothing
        unless it is still a live session of that user in that scope."""
        check_untenanted_only(tenant_id, untenanted_only)
        with self._space.lock:
            any_tenant = tenant_id is None and not untenanted_only
            ids = self._space.owned(str(user_id), tenant_id, any_tenant)
            if keep is not None:
                if keep not in ids or self._live(keep, utcnow()) is None:
                    return 0
                ids.remove(keep)
            for sid in ids:
                self._space.drop(sid)
        return len(ids)

    async def revoke_user_session(
        self, user_id: str | int, handle: str, *, tenant_id: str | None = None
    ) -> bool:
        """Delete the session of ``user_id`` named ``handle``; ``False`` if it has none."""
        with self._space.lock:
            for sid in self._space.owned(str(user_id), tenant_id, tenant_id is None):
                if self._space.sessions[sid].handle == handle:
                    self._space.drop(sid)
                    return True
        return False

    def _owned_live(self, user_id: str | int, tenant_id: str | None) -> list[SessionRecord]:
        now = utcnow()
        with self._space.lock:
            ids = self._space.owned(str(user_id), tenant_id, tenant_id is None)
            entries = [(sid, self._live(sid, now)) for sid in ids]
        return _oldest_first([_record(sid, e) for sid, e in entries if e is not None])

    async def count_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        return len(self._owned_live(user_id, tenant_id))

    async def get_session_ids_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[str]:
        return [r.id for r in self._owned_live(user_id, tenant_id)]

    async def list_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[SessionRecord]:
        return self._owned_live(user_id, tenant_id)

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]:
        now = utcnow()
        with self._space.lock:
            space = self._space
            ids = list(space.sessions) if tenant_id is None else space.by_tenant.get(tenant_id, ())
            entries = [(sid, self._live(sid, now)) for sid in ids]
        return _oldest_first([_record(sid, e) for sid, e in entries if e is not None])

    async def clear_all_sessions(
        self,
        *,
        tenant_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        check_batch_size(batch_size)
        total = 0
        while True:
            with self._space.lock:
                space = self._space
                pool = space.sessions if tenant_id is None else space.by_tenant.get(tenant_id, ())
                batch = list(pool)[:batch_size]
                for sid in batch:
                    space.drop(sid)
            total += len(batch)
            if on_progress is not None and batch:
                on_progress(total)
            if len(batch) < batch_size:
                return total

    # -- expiry and statistics ----------------------------------------------------------

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int:
        """Remove expired sessions in batches; returns how many."""
        check_batch_size(batch_size)
        now, total = utcnow(), 0
        while True:
            with self._space.lock:
                deleted = self._space.purge_expired(now, batch_size)
            total += deleted
            if on_progress is not None and deleted:
                on_progress(total)
            if deleted < batch_size:
                return total

    async def delete_expired_if_leader(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
        """One process, so always the leader."""
        return await self.delete_expired(batch_size=batch_size)

    async def stats(self) -> StoreStats:
        now = utcnow()
        with self._space.lock:
            entries = list(self._space.sessions.values())
        live = [e for e in entries if e.expiry > now]
        per_tenant: dict[str | None, int] = {}
        for e in live:
            per_tenant[e.tenant_id] = per_tenant.get(e.tenant_id, 0) + 1
        return StoreStats(
            total=len(entries),
            live=len(live),
            expired=len(entries) - len(live),
            distinct_users=len({e.user_id for e in live if e.user_id is not None}),
            per_tenant=per_tenant,
        )


def _record(sid: str, entry: _Entry) -> SessionRecord:
    return SessionRecord(
        sid,
        decode_data(entry.data),
        entry.expiry,
        entry.user_id,
        entry.tenant_id,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        ip=entry.ip,
        user_agent=entry.user_agent,
        last_seen=entry.last_seen,
        handle=entry.handle,
    )


def _oldest_first(records: list[SessionRecord]) -> list[SessionRecord]:
    return sorted(records, key=lambda r: (r.created_at, r.id))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise SessionDataError(
            "naive datetimes are ambiguous; pass a timezone-aware datetime (UTC)"
        )
    return value.astimezone(UTC)
