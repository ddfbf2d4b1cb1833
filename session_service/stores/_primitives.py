"""``StorePrimitives``: what a store writes under :class:`~.base.SessionStoreBase`, on values
the base has already checked and encoded (one stub per primitive, each raising
``NotImplementedError`` until a store writes it). Kept apart from the rules so that either
can be read at a glance.
"""

from __future__ import annotations

from datetime import datetime

from ..records import SessionRecord
from ._delta import Delta
from .protocol import ProgressCallback, StoreStats


class StorePrimitives:
    """The primitives of a store, and its statistics."""

    async def _load(self, session_id: str) -> SessionRecord | None:
        raise NotImplementedError

    async def _insert(self, record: SessionRecord, data: str) -> None:
        """Store a new session; raise :class:`IdTaken` if ``record.id`` is taken."""
        raise NotImplementedError

    async def _save(self, record: SessionRecord, data: str) -> None:
        raise NotImplementedError

    async def _update(self, record: SessionRecord, data: str, extend_expiry: bool) -> bool:
        raise NotImplementedError

    async def _patch(self, session_id: str, delta: Delta, expiry_date: datetime | None) -> bool:
        raise NotImplementedError

    async def _touch(
        self, session_id: str, expiry_date: datetime, last_seen: datetime | None
    ) -> bool:
        raise NotImplementedError

    async def _seen(self, session_id: str, when: datetime) -> bool:
        raise NotImplementedError

    async def _rotate(self, old_id: str, record: SessionRecord, data: str) -> bool:
        """Move the live session ``old_id`` to ``record.id``; ``False`` if it is gone (or past
        its absolute deadline: ``lifetime_rules.earliest_start``); raise :class:`IdTaken` if
        ``record.id`` is taken."""
        raise NotImplementedError

    async def _delete(self, session_id: str) -> None:
        raise NotImplementedError

    async def _clear_user(
        self, user_id: str, tenant_id: str | None, untenanted_only: bool, keep: str | None
    ) -> int:
        raise NotImplementedError

    async def _revoke(self, user_id: str, handle: str, tenant_id: str | None) -> bool:
        raise NotImplementedError

    async def _list_user(self, user_id: str, tenant_id: str | None) -> list[SessionRecord]:
        """The user's live sessions (in one tenant, or in all), in any order."""
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
