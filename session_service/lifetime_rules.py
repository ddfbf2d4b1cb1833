"""The lifetime rules the stores' base class applies to records (see :mod:`.lifetime`).

Kept out of :mod:`.lifetime` because they work on :class:`~.records.SessionRecord`, which the
web layer's :class:`~.web.session.Session` does not need.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from .lifetime import LIFETIME_KEY, lifetime_value, read_lifetime, refuse_reserved
from .records import SessionRecord, utcnow


def read_record(
    record: SessionRecord, absolute_ttl: timedelta | None, now: datetime | None = None
) -> SessionRecord | None:
    """``record`` as read from a store: its own lifetime taken out of the data, its absolute
    deadline (its start, ``created_at``, plus ``absolute_ttl``) set and its expiry brought
    forward to it; ``None`` when that deadline has passed at ``now`` (default: the clock,
    read only when there is a deadline to compare: the usual read has none)."""
    data = record.data
    if LIFETIME_KEY in data:
        record.idle_ttl, record.persistent = read_lifetime(data.pop(LIFETIME_KEY))
    if absolute_ttl is not None and record.created_at is not None:
        deadline = record.created_at + absolute_ttl
        if deadline <= (utcnow() if now is None else now):
            return None
        record.absolute_expiry = deadline
        if record.expiry_date > deadline:
            record.expiry_date = deadline
    return record


def start_lifetime(record: SessionRecord, absolute_ttl: timedelta | None) -> None:
    """A new absolute lifetime (a new session, a login): the deadline is from now."""
    record.absolute_expiry = None if absolute_ttl is None else utcnow() + absolute_ttl
    clamp_to_deadline(record)


def earliest_start(absolute_ttl: timedelta | None, now: datetime) -> datetime | None:
    """The earliest start (``created_at``) of a session still within its absolute lifetime at
    ``now`` (``None``: no absolute limit). A store's rotation moves no session that started
    earlier: a login never revives a session that is over."""
    return None if absolute_ttl is None else now - absolute_ttl


def clamp_to_deadline(record: SessionRecord) -> None:
    """Bring ``record.expiry_date`` forward to ``record.absolute_expiry`` when that is sooner."""
    deadline = record.absolute_expiry
    if deadline is not None and record.expiry_date > deadline:
        record.expiry_date = deadline


def stored_data(record: SessionRecord) -> dict[str, Any]:
    """The data a store writes for ``record``: the app's, plus the session's own lifetime
    under :data:`~.lifetime.LIFETIME_KEY`; an app's own key of that name is refused."""
    stored = record.data
    if LIFETIME_KEY in stored:
        raise refuse_reserved()
    life = lifetime_value(record.idle_ttl, record.persistent)
    return stored if life is None else {**stored, LIFETIME_KEY: life}


def patched_lifetime(
    changed: Mapping[str, Any],
    removed: Collection[str],
    lifetime: tuple[int | None, bool | None] | None,
) -> tuple[Mapping[str, Any], Collection[str]]:
    """A patch's keys with ``lifetime`` (idle TTL, cookie kind; ``None``: unchanged) written
    into the reserved key in the same step; the app may not name that key itself."""
    if LIFETIME_KEY in changed or LIFETIME_KEY in removed:
        raise refuse_reserved()
    if lifetime is None:
        return changed, removed
    life = lifetime_value(*lifetime)
    if life is None:
        return changed, [*removed, LIFETIME_KEY]
    return {**changed, LIFETIME_KEY: life}, removed
