"""The memory store's data: one :class:`Space` of sessions per URL, with its indexes.

A space belongs to a URL, not to a store object: every store opened on that URL in this
process gets the same one from a process-wide registry (two app instances on one database),
and :func:`forget` drops it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...records import SessionRecord
from ...settings import normalize_db_url
from .._codec import decode_data


@dataclass(slots=True)
class Entry:
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

    def keep_device_of(self, old: Entry) -> None:
        self.ip, self.user_agent, self.handle = old.ip, old.user_agent, old.handle
        self.last_seen = self.last_seen or old.last_seen


class Space:
    """The sessions of one URL, with the user and tenant indexes that keep clear-by-user and
    per-tenant operations off a full scan. Every operation holds the lock for its whole
    duration (``TestClient`` runs the app on another thread's event loop)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, Entry] = {}
        self.by_owner: dict[tuple[str | None, str], set[str]] = {}
        self.tenants_of: dict[str, set[str | None]] = {}
        self.by_tenant: dict[str | None, set[str]] = {}

    def put(self, sid: str, entry: Entry) -> None:
        self.drop(sid)
        self.sessions[sid] = entry
        self.by_tenant.setdefault(entry.tenant_id, set()).add(sid)
        if entry.user_id is not None:
            self.by_owner.setdefault((entry.tenant_id, entry.user_id), set()).add(sid)
            self.tenants_of.setdefault(entry.user_id, set()).add(entry.tenant_id)

    def drop(self, sid: str) -> Entry | None:
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

    def live(self, sid: str, now: datetime) -> Entry | None:
        """The session ``sid`` unless it is gone or expired at ``now``."""
        entry = self.sessions.get(sid)
        return entry if entry is not None and entry.expiry > now else None

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


_REGISTRY: dict[str, Space] = {}
_REGISTRY_LOCK = threading.Lock()


def space_of(url: str) -> Space:
    with _REGISTRY_LOCK:
        return _REGISTRY.setdefault(url, Space())


def forget(url: str) -> None:
    """Drop every session stored under ``url`` in this process (for test teardown)."""
    with _REGISTRY_LOCK:
        _REGISTRY.pop(normalize_db_url(url)[1], None)


def record_of(sid: str, entry: Entry) -> SessionRecord:
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


def utc(value: datetime) -> datetime:
    """``value`` (timezone-aware: checked by the store's rules) in UTC."""
    return value.astimezone(UTC)
