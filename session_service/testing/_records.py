"""Records the contract tests write: a fresh id, an expiry an hour away unless told."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..backend import SessionStoreBackend
from ..records import SessionRecord, new_session_id, utcnow


def new_record(
    data: dict[str, Any] | None = None,
    *,
    sid: str | None = None,
    tenant_id: str | None = None,
    expiry_date: datetime | None = None,
) -> SessionRecord:
    """A session not stored yet: ``data`` (empty by default), live for an hour."""
    return SessionRecord(
        id=sid or new_session_id(),
        data={} if data is None else data,
        expiry_date=expiry_date or utcnow() + timedelta(hours=1),
        tenant_id=tenant_id,
    )


def past(**delta: float) -> datetime:
    """An instant ``delta`` ago: an expiry there makes an expired session without waiting."""
    return utcnow() - timedelta(**delta)


def future(**delta: float) -> datetime:
    return utcnow() + timedelta(**delta)


async def save_for(
    backend: SessionStoreBackend,
    user_id: str | int | None,
    *,
    tenant_id: str | None = None,
    n: int = 1,
    expired: bool = False,
) -> list[str]:
    """Save ``n`` sessions of ``user_id`` (``None``: of nobody); their ids, in order."""
    ids = []
    for i in range(n):
        data: dict[str, Any] = {"i": i}
        if user_id is not None:
            data["user_id"] = user_id
        when = past(hours=1) if expired else future(hours=1)
        saved = new_record(data, tenant_id=tenant_id, expiry_date=when)
        await backend.save(saved)
        ids.append(saved.id)
    return ids


async def data_of(backend: SessionStoreBackend, sid: str) -> dict[str, Any] | None:
    """The stored data of ``sid``, ``None`` when it does not load."""
    loaded = await backend.load(sid)
    return None if loaded is None else loaded.data


async def handles(backend: SessionStoreBackend, ids: list[str]) -> list[str]:
    """The handles of the live sessions ``ids``, in order: what a listing names them by (a
    store keeps only a hash of each id, so listings cannot give ids back)."""
    named = []
    for sid in ids:
        loaded = await backend.load(sid)
        assert loaded is not None and loaded.handle is not None, "not a live, named session"
        named.append(loaded.handle)
    return named
