"""``StorePrimitives``: the per-session primitives a store writes under
:class:`~.base.SessionStoreBase`, on values the base has already checked and encoded (ids are
stored keys, :func:`~session_service.storable.at_rest_id`), one stub each raising
``NotImplementedError`` until a store writes it. Kept apart from the rules so that either can
be read at a glance; the by-user, by-tenant and whole-store primitives sit beside their rules
in :mod:`._index_rules`.
"""

from __future__ import annotations

from datetime import datetime

from ..records import SessionRecord
from ._delta import Delta


class StorePrimitives:
    """The per-session primitives of a store."""

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
