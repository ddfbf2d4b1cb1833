"""``SESSION_MAX_PER_USER``: the rule, written once for every store, and the primitive each
store writes to apply it atomically.

A save that binds a session to a user (``create``, ``save``, ``update``, ``rotate``, or a
``patch`` that sets ``user_id``) is followed by the store's :meth:`PerUserLimit._evict_extra`:
one atomic step (a SQL transaction holding the owner, one Redis script, the memory store's
lock) that reads the user's live sessions in that tenant and deletes those
:func:`least_recently_used` names. Each login checks after its own write, and the checks of
one user never interleave, so logins racing for one user never leave more than the limit.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..records import SessionRecord

if TYPE_CHECKING:
    from ..metrics import SessionMetrics


def recency(record: SessionRecord) -> tuple[datetime, datetime, str]:
    """How recently a session was used: the later of its last write (``updated_at``: a save,
    a patch, an expiry extension) and its last recorded use (``last_seen``, with device
    tracking), then its creation and its id as tie-breakers."""
    assert record.updated_at is not None and record.created_at is not None
    used = record.updated_at
    if record.last_seen is not None and record.last_seen > used:
        used = record.last_seen
    return used, record.created_at, record.id


def owner_key(user_id: str, tenant_id: str | None) -> str:
    """(tenant, user) as one unambiguous text (the tenant's length first), what a store's
    per-owner lock is named after."""
    tenant = "-" if tenant_id is None else "=" + tenant_id
    return f"{len(tenant)}:{tenant}{user_id}"


def least_recently_used(records: Iterable[SessionRecord], keep: str, limit: int) -> list[str]:
    """The rule, for a store to apply inside its atomic step: given one user's live sessions
    in one tenant, the ids to sign out so that ``limit`` stay, the least recently used
    (:func:`recency`) first, never ``keep`` (the session logging in). Nothing when ``keep`` is
    not among them (signed out meanwhile: it keeps nobody out)."""
    records = list(records)
    if len(records) <= limit or all(r.id != keep for r in records):
        return []
    others = sorted((r for r in records if r.id != keep), key=recency, reverse=True)
    return [r.id for r in others[limit - 1 :]]


class PerUserLimit:
    """The limit's part of :class:`~.base.SessionStoreBase`."""

    #: Most live sessions one user may have in one tenant (``SESSION_MAX_PER_USER``; ``0``:
    #: no limit); the service sets it.
    max_per_user: int = 0
    #: A store whose ``_rotate`` applies the limit in its own atomic step (no second step).
    _limits_in_rotate: ClassVar[bool] = False
    _metrics: SessionMetrics | None = None

    def _signed_out(self, evicted: int) -> None:
        """``evicted`` sessions the limit signed out count as revoked (docs/operations.md,
        "Metrics"), whichever step of the store deleted them: the users see a sign-out."""
        if evicted and self._metrics is not None:
            self._metrics.revoked += evicted

    async def _bound(self, session_id: str, write: Coroutine[Any, Any, bool]) -> bool:
        """``write``, then (if it wrote) the limit for the user of ``session_id``."""
        if not await write:
            return False
        await self._limit_user_of(session_id)
        return True

    async def _limit_user_of(self, session_id: str) -> None:
        """The limit for the user of ``session_id``, its sign-outs counted (every caller's)."""
        self._signed_out(await self._evict_extra(session_id, self.max_per_user))

    async def _evict_extra(self, keep: str, limit: int) -> int:
        """In one atomic step: when the live session ``keep`` has a user who has more than
        ``limit`` live sessions in ``keep``'s tenant, delete those :func:`least_recently_used`
        names; returns how many. Nothing when ``keep`` is gone or has no user. Atomic against
        every other write, so logins racing for one user never leave more than ``limit``.
        A store that signs sessions out in its write's own step instead (and returns ``0``
        here) reports them through :meth:`_signed_out`."""
        raise NotImplementedError
