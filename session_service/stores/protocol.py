"""``SessionStore``: the one protocol every store satisfies, built in or the user's own.

The service, the middleware and the CLI call only what is named here, so a store is any object
with these methods: :class:`~.sql.SqliteSessionStore`, :class:`~.sql.PgSessionStore`, the Redis
and in-memory stores, or one written by a user (``SessionStoreBackend(MyStore())``).

What a caller may rely on, whatever the store (the behavioural suite in ``tests/`` checks each
kind against the same tests):

* ``create`` never overwrites: on an id collision it picks a fresh id and sets it on the record.
* ``update``, ``patch``, ``touch`` and ``rotate`` change a session only while it still exists
  and is live, and say so with their result: a session revoked meanwhile is never brought back.
* ``patch`` sets and removes only the keys it is given, atomically against every other write,
  so two overlapping requests that change different keys both keep their changes.
* ``save`` is an upsert; every write keeps ``user_id`` equal to ``data["user_id"]``.
* reads never return expired sessions; ``load`` returns a record the caller may change freely.
* failures of the database are :class:`~session_service.errors.SessionStoreUnavailable`; data
  that cannot be stored is :class:`~session_service.errors.SessionDataError`, and nothing is
  written.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..records import SessionRecord

#: Rows (or keys) deleted per transaction by the batched deletes.
DEFAULT_BATCH_SIZE = 5000

#: Called with the running total after each batch of a long delete (the CLI shows it).
ProgressCallback = Callable[[int], None]


def check_batch_size(batch_size: int) -> None:
    """Refuse a batch size below 1 (a batched delete would never finish), before any batch:
    every store's batched deletes call this, so all of them refuse alike and delete nothing."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")


def check_untenanted_only(tenant_id: str | None, untenanted_only: bool) -> None:
    """Refuse ``untenanted_only=True`` with a tenant: "the sessions without a tenant, in
    tenant ``t``" names nothing, and a silent no-op would hide the caller's mistake."""
    if untenanted_only and tenant_id is not None:
        raise ValueError("untenanted_only=True is for sessions without a tenant: pass no tenant_id")


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What ``session-service stats`` shows: counts over the whole store."""

    total: int
    live: int
    expired: int
    distinct_users: int
    per_tenant: dict[str | None, int] = field(default_factory=dict)


@runtime_checkable
class SessionStore(Protocol):
    """Every method the service, the middleware and the CLI call on a store."""

    #: Largest session accepted, as JSON bytes (``None``: no limit); the service sets it.
    max_bytes: int | None

    @property
    def kind(self) -> str:
        """A short name: ``"sqlite"``, ``"postgres"``, ``"redis"``, ``"memory"`` or your own."""
        ...

    @property
    def display_url(self) -> str:
        """Where the store lives, safe to print (credentials masked)."""
        ...

    # -- lifecycle -----------------------------------------------------------------------
    async def ping(self) -> None:
        """Raise ``SessionStoreUnavailable`` unless the store answers."""
        ...

    async def migrate(self) -> None:
        """Bring the store's schema up to date; idempotent, safe to run concurrently."""
        ...

    async def close(self) -> None:
        """Release connections; the store may still be used afterwards."""
        ...

    # -- one session (the per-request path) ------------------------------------------------
    async def load(self, session_id: str) -> SessionRecord | None: ...

    async def create(self, record: SessionRecord) -> SessionRecord: ...

    async def save(self, record: SessionRecord) -> None: ...

    async def update(self, record: SessionRecord, *, extend_expiry: bool = True) -> bool: ...

    async def patch(
        self,
        session_id: str,
        changed: Mapping[str, Any],
        removed: Collection[str],
        *,
        expiry_date: datetime | None = None,
    ) -> bool:
        """Set the keys in ``changed`` and delete those in ``removed`` in a live session, in one
        atomic step, leaving every other key as stored; ``False`` (nothing written) when the
        session is gone or expired. The ``user_id`` column follows a changed or removed
        ``"user_id"``; ``expiry_date=None`` keeps the stored expiry. ``SESSION_MAX_BYTES``
        holds for the merged session (``SessionDataError``, nothing written)."""
        ...

    async def touch(
        self, session_id: str, expiry_date: datetime, *, last_seen: datetime | None = None
    ) -> bool:
        """Move a live session's expiry (and ``last_seen`` when given); ``False`` if gone."""
        ...

    async def seen(self, session_id: str, when: datetime) -> bool:
        """Set a live session's ``last_seen`` alone, never its expiry; ``False`` if gone."""
        ...

    async def rotate(self, old_id: str, record: SessionRecord) -> bool: ...

    async def delete(self, session_id: str) -> None: ...

    # -- by user, by tenant, everything (``tenant_id=None``: every tenant) -----------------
    async def clear_sessions_for_user(
        self,
        user_id: str | int,
        *,
        tenant_id: str | None = None,
        keep: str | None = None,
        untenanted_only: bool = False,
    ) -> int:
        """Delete the user's sessions but ``keep`` (an id); returns how many. With ``keep``,
        atomically: nothing at all is deleted unless ``keep`` is still a live session of
        that user, so of two devices signing each other out, exactly one stays.

        ``untenanted_only=True`` narrows "every tenant" to the user's sessions that have no
        tenant (``tenant_id`` must then be ``None``: :func:`check_untenanted_only`), still in
        one atomic step, so "sign out everywhere" from a request without a tenant misses no
        login that lands meanwhile; ``keep`` must then be one of those sessions."""
        ...

    async def revoke_user_session(
        self, user_id: str | int, handle: str, *, tenant_id: str | None = None
    ) -> bool:
        """Delete the user's session named ``handle``; ``False`` when the user has none."""
        ...

    async def count_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int: ...

    async def get_session_ids_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[str]: ...

    async def list_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[SessionRecord]:
        """Live sessions of the user with timestamps, device fields and a ``handle`` each."""
        ...

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]: ...

    async def clear_all_sessions(
        self,
        *,
        tenant_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int: ...

    # -- expiry and statistics -------------------------------------------------------------
    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int: ...

    async def delete_expired_if_leader(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> int | None: ...

    async def stats(self) -> StoreStats: ...
