"""The by-user, by-tenant and whole-store half of :class:`~.base.SessionStoreBase`: its rules
written once, over the primitives each store writes.

Sessions are filed under :func:`~session_service.storable.at_rest_id` of their id (docs/
security.md), so a listing cannot give ids back: every record a listing returns has an empty
``id`` and names its session by ``handle`` (the one name the devices page, ``revoke`` and the
CLI use); :meth:`IndexRules.get_session_ids_for_user` returns those handles. A ``keep`` id is
hashed here before the primitive sees it, as :mod:`.base` does for the per-request methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from ..devices import new_handle
from ..lifetime_rules import read_record
from ..records import SessionRecord, utcnow
from ..storable import at_rest_id, storable
from ._rules import _scope_ok, check_batch_size, check_untenanted_only, oldest_first
from .protocol import DEFAULT_BATCH_SIZE, ProgressCallback, StoreStats

if TYPE_CHECKING:
    from ..metrics import SessionMetrics


def _unnamed(records: list[SessionRecord]) -> list[SessionRecord]:
    """``records`` without their stored keys: a listing names a session by its handle."""
    for record in records:
        record.id = ""
    return records


class IndexRules:
    """The public by-user/tenant/everything methods of :class:`~.protocol.SessionStore`."""

    #: ``SESSION_ABSOLUTE_TTL_SECONDS`` (``None``: no absolute limit); the service sets it.
    absolute_ttl: timedelta | None = None
    #: The service's counts (docs/operations.md, "Metrics"); ``None``: no metrics.
    _metrics: SessionMetrics | None = None

    def _live(self, records: Iterable[SessionRecord]) -> list[SessionRecord]:
        now = utcnow()
        return [r for r in records if read_record(r, self.absolute_ttl, now) is not None]

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
        kept = None if keep is None else at_rest_id(keep)
        cleared = await self._clear_user(user, tenant_id, untenanted_only, kept)
        if self._metrics is not None:
            self._metrics.revoked += cleared
        return cleared

    async def revoke_user_session(
        self, user_id: str | int, handle: str, *, tenant_id: str | None = None
    ) -> bool:
        """Delete the user's live session named ``handle``; ``False`` when the user has none
        (a handle of another user's session, or of an expired one, deletes nothing)."""
        user = str(user_id)
        if not handle or not storable(handle) or not _scope_ok(user, tenant_id):
            return False
        revoked = await self._revoke(user, handle, tenant_id)
        if revoked and self._metrics is not None:
            self._metrics.revoked += 1
        return revoked

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
        """The handles of the user's live sessions, oldest first: ids are not stored, so they
        cannot be listed (the name is kept for compatibility; docs/security.md)."""
        listed = await self.list_sessions_for_user(user_id, tenant_id=tenant_id)
        return [r.handle for r in listed if r.handle is not None]

    async def list_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[SessionRecord]:
        """The user's live sessions, oldest first, with their timestamps and device fields,
        each named by a handle (a session stored before handles existed is given one now);
        ``id`` is empty."""
        user = str(user_id)
        if not _scope_ok(user, tenant_id):
            return []
        records = oldest_first(self._live(await self._list_user(user, tenant_id)))
        for record in records:
            if record.handle is None:
                record.handle = await self._name_session(record.id, new_handle())
        return _unnamed([r for r in records if r.handle is not None])

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]:
        """Every live session (of one tenant), oldest first, for debugging; ``id`` is empty
        (a session is named by its handle, ``None`` for one never listed since handles came)."""
        if tenant_id is not None and not storable(tenant_id):
            return []
        return _unnamed(oldest_first(self._live(await self._dump(tenant_id))))

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
        cleared = await self._clear_all(tenant_id, batch_size, on_progress)
        if self._metrics is not None:
            self._metrics.revoked += cleared
        return cleared

    # -- expiry -----------------------------------------------------------------------------

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int:
        """Remove expired sessions in batches of ``batch_size``; returns how many."""
        check_batch_size(batch_size)
        deleted = await self._delete_expired(batch_size, on_progress)
        if self._metrics is not None:
            self._metrics.cleaned += deleted
        return deleted

    async def delete_expired_if_leader(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
        """:meth:`delete_expired` on one instance at a time; ``None`` if another is cleaning."""
        check_batch_size(batch_size)
        deleted = await self._delete_expired_as_leader(batch_size)
        if deleted and self._metrics is not None:
            self._metrics.cleaned += deleted
        return deleted

    # -- primitives a store writes (on checked values; ids are stored keys) -------------------

    async def _clear_user(
        self, user_id: str, tenant_id: str | None, untenanted_only: bool, keep: str | None
    ) -> int:
        raise NotImplementedError

    async def _revoke(self, user_id: str, handle: str, tenant_id: str | None) -> bool:
        raise NotImplementedError

    async def _list_user(self, user_id: str, tenant_id: str | None) -> list[SessionRecord]:
        """The user's live sessions (in one tenant, or in all), in any order, each with its
        stored key as ``id``."""
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
