"""The lifetime rules the stores' base class applies to records (see :mod:`.lifetime`).

Kept out of :mod:`.lifetime` because they work on :class:`~.records.SessionRecord`, which the
web layer's :class:`~.web.session.Session` does not need.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .lifetime import LIFETIME_KEY, read_lifetime
from .records import SessionRecord, utcnow


def read_record(
    record: SessionRecord, absolute_ttl: timedelta | None, now: datetime
) -> SessionRecord | None:
    """``record`` as read from a store: its own lifetime taken out of the data, its absolute
    deadline (its start, ``created_at``, plus ``absolute_ttl``) set and its expiry brought
    forward to it; ``None`` when that deadline has passed."""
    data = record.data
    if LIFETIME_KEY in data:
        record.idle_ttl, record.persistent = read_lifetime(data.pop(LIFETIME_KEY))
    if absolute_ttl is not None and record.created_at is not None:
        deadline = record.created_at + absolute_ttl
        if deadline <= now:
            return None
        record.absolute_expiry = deadline
        if record.expiry_date > deadline:
            record.expiry_date = deadline
    return record


def start_lifetime(record: SessionRecord, absolute_ttl: timedelta | None) -> None:
    """A new absolute lifetime (a new session, a login): the deadline is from now."""
    record.absolute_expiry = None if absolute_ttl is None else utcnow() + absolute_ttl
    clamp_to_deadline(record)


def clamp_to_deadline(record: SessionRecord) -> None:
    """Bring ``record.expiry_date`` forward to ``record.absolute_expiry`` when that is sooner."""
    deadline = record.absolute_expiry
    if deadline is not None and record.expiry_date > deadline:
        record.expiry_date = deadline
