"""Small rules of :class:`~.base.SessionStoreBase`: argument checks, the order of listings,
the id-collision signal and its limit (kept apart so the base stays one screenful of rules)."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import SessionDataError, SessionStoreUnavailable
from ..records import SessionRecord, user_id_of
from ..storable import (
    HANDLE_LENGTH,
    ID_LENGTH,
    IP_LENGTH,
    PRINCIPAL_LENGTH,
    USER_AGENT_LENGTH,
    at_rest_id,
    check_aware,
    check_text,
    storable,
)

#: Ids drawn for one new session before the random source is declared broken.
CREATE_ATTEMPTS = 5


class IdTaken(Exception):
    """Raised by a store's ``_insert``/``_rotate`` when the new id is taken (the loop in
    :class:`SessionStoreBase` draws another). Never leaves the store."""


def check_record(record: SessionRecord) -> str | None:
    """Refuse a record no store could hold (its id, tenant, user, device fields and handle
    within their lengths and storable, its datetimes timezone-aware); returns the value of
    its ``user_id`` column."""
    check_text("the session id", record.id, ID_LENGTH)
    check_text("tenant_id", record.tenant_id, PRINCIPAL_LENGTH)
    user_id = user_id_of(record.data)
    check_text("session['user_id']", user_id, PRINCIPAL_LENGTH)
    check_text("the ip", record.ip, IP_LENGTH)
    check_text("the user agent", record.user_agent, USER_AGENT_LENGTH)
    check_text("the handle", record.handle, HANDLE_LENGTH)
    if record.expiry_date.tzinfo is None:
        check_aware(record.expiry_date)  # raises
    if record.last_seen is not None and record.last_seen.tzinfo is None:
        check_aware(record.last_seen)  # raises
    return user_id


def check_batch_size(batch_size: int) -> None:
    """Refuse a batch size below 1 (a batched delete would never finish), before any batch."""
    if batch_size < 1:
        raise SessionDataError("batch_size must be at least 1")


def check_untenanted_only(tenant_id: str | None, untenanted_only: bool) -> None:
    """Refuse ``untenanted_only=True`` with a tenant: "the sessions without a tenant, in
    tenant ``t``" names nothing, and a silent no-op would hide the caller's mistake."""
    if untenanted_only and tenant_id is not None:
        raise SessionDataError(
            "untenanted_only=True is for sessions without a tenant: pass no tenant_id"
        )


def oldest_first(records: Iterable[SessionRecord]) -> list[SessionRecord]:
    """The order of every listing: by creation, then id (a stable order for equal times)."""
    return sorted(records, key=lambda r: (r.created_at, r.id))


async def _none() -> None:
    return None


async def _false() -> bool:
    return False


def _no_free_id() -> SessionStoreUnavailable:
    return SessionStoreUnavailable(
        f"could not find a free session id in {CREATE_ATTEMPTS} tries: the random source "
        "(os.urandom) is broken; fix the system's entropy source"
    )


def _scope_ok(user_id: str, tenant_id: str | None) -> bool:
    return storable(user_id) and (tenant_id is None or storable(tenant_id))


def filed(record: SessionRecord) -> SessionRecord:
    """A copy of ``record`` addressed by its stored key (:func:`at_rest_id` of its id): what
    a write primitive receives, so the id itself never reaches a store. The data and device
    fields are shared, not copied (the primitive only reads them)."""
    return SessionRecord(
        at_rest_id(record.id),
        record.data,
        record.expiry_date,
        record.user_id,
        record.tenant_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        ip=record.ip,
        user_agent=record.user_agent,
        last_seen=record.last_seen,
        handle=record.handle,
        idle_ttl=record.idle_ttl,
        persistent=record.persistent,
        absolute_expiry=record.absolute_expiry,
    )
