"""``SessionStore``: the protocol every store satisfies, built in or the user's own.

The service, the middleware and the CLI call only what is named here, so a store is any object
with these methods: :class:`~.sql.SqliteSessionStore`, :class:`~.sql.PgSessionStore`, the Redis
and in-memory stores, or one written by a user (``SessionStoreBackend(MyStore())``). It is the
union of capabilities, each a protocol of its own, so code that needs one piece (a cache in
front of the per-request path, a metrics wrapper, a cleanup job) can say which:

* :class:`StoreLifecycle`: what it is and where (``kind``, ``display_url``, ``max_bytes``), and
  ``ping``, ``migrate``, ``close``;
* :class:`PerRequestStore`: one session by id, what every request may do;
* :class:`UserIndexStore`: by user, by tenant, everything (the admin side);
* :class:`ExpiryStore`: the cleanup of expired sessions;
* :class:`StatsStore`: counts for the operator.

One ability is optional and outside the union, so a store written before it still is a
``SessionStore``: :class:`IdMinting`, a store drawing the id of a session about to be created
or rotated (Redis Cluster's ids name their slot); :func:`id_minter` gives every other store
:func:`~session_service.records.new_session_id`.

What a caller may rely on, whatever the store (the rules are written once, in
:class:`~.base.SessionStoreBase`, and the behavioural suite in ``tests/`` checks each kind):

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

from ..records import SessionRecord, new_session_id

#: Rows (or keys) deleted per transaction by the batched deletes.
DEFAULT_BATCH_SIZE = 5000

#: Called with the running total after each batch of a long delete (the CLI shows it).
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What ``session-service stats`` shows: counts over the whole store."""

    total: int
    live: int
    expired: int
    distinct_users: int
    per_tenant: dict[str | None, int] = field(default_factory=dict)


@runtime_checkable
class StoreLifecycle(Protocol):
    """What every store is: a kind, a printable place, a size limit, and its connections."""

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


@runtime_checkable
class PerRequestStore(Protocol):
    """One session by id: the calls a request makes (load, then at most one write)."""

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
        lifetime: tuple[int | None, bool | None] | None = None,
    ) -> bool:
        """Set the keys in ``changed`` and delete those in ``removed`` in a live session, in one
        atomic step, leaving every other key as stored; ``False`` (nothing written) when the
        session is gone or expired. The ``user_id`` column follows a changed or removed
        ``"user_id"``; ``expiry_date=None`` keeps the stored expiry. ``SESSION_MAX_BYTES``
        holds for the merged session (``SessionDataError``, nothing written). ``lifetime``
        (idle TTL, cookie kind; ``None`` keeps them) replaces the session's own in the same
        step (the middleware passes it only when the request changed them)."""
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


@runtime_checkable
class UserIndexStore(Protocol):
    """By user, by tenant, everything (``tenant_id=None``: every tenant): answered from an
    index (a user's sessions are never a full scan)."""

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
        tenant (``tenant_id`` must then be ``None``), still in
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


@runtime_checkable
class ExpiryStore(Protocol):
    """Removing expired sessions, in bounded batches."""

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int: ...

    async def delete_expired_if_leader(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> int | None: ...


@runtime_checkable
class StatsStore(Protocol):
    """Counts over the whole store, for ``session-service stats``."""

    async def stats(self) -> StoreStats: ...


@runtime_checkable
class SessionStore(
    StoreLifecycle, PerRequestStore, UserIndexStore, ExpiryStore, StatsStore, Protocol
):
    """Every method the service, the middleware and the CLI call on a store: the union of
    the capabilities above."""


@runtime_checkable
class IdMinting(Protocol):
    """A store that draws the ids of its new sessions (optional; see :func:`id_minter`)."""

    def new_id(self, record: SessionRecord) -> str:
        """A fresh id (the randomness of :func:`~session_service.records.new_session_id`) for
        ``record``, about to be created or rotated into. A plain call, no I/O: the middleware
        asks it on every request that starts or rotates a session."""
        ...


def _plain_id(record: SessionRecord) -> str:
    return new_session_id()


def id_minter(store: object) -> Callable[[SessionRecord], str]:
    """``store.new_id`` where the store has one (:class:`IdMinting`), else a plain
    :func:`~session_service.records.new_session_id`: looked up once, by whoever holds the
    store (the backend, a read cache), so each call is one plain call."""
    return store.new_id if isinstance(store, IdMinting) else _plain_id
