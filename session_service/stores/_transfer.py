"""Export and import: sessions moved between stores exactly as their stores keep them.

``session-service export``/``import``/``copy`` (docs/operations.md, "Backups and moving
stores") rest on two public methods every built-in store has, written once here:

* :meth:`TransferRules.export_sessions` yields every live session (of one tenant) in batches
  of :class:`StoredSession`, never the whole store in one list;
* :meth:`TransferRules.import_sessions` writes a batch and says how many it wrote, left as
  they were, and skipped as expired.

What travels is the row as stored, not a session as the app sees it: the store's own key for
the row (the id today; whatever :func:`session_service.storable.at_rest_id` makes once ids are
hashed at rest, and never re-hashed on the way), the data as stored (the session's own
lifetime under its reserved key, values that may be ciphertext bound to that key), the expiry,
``created_at`` (the start of an absolute lifetime), ``updated_at``, ``last_seen``, the
handle and the device fields. So a cookie issued against the source loads from the target,
with the same handle on the devices page, the same deadlines, and nobody signed out.

The rules, the same on every store:

* export skips what has expired (idle, or past ``absolute_ttl`` when the store has one);
* import skips what has expired meanwhile, writes a row whose key is new to the target, and
  replaces a stored row only with a newer one (``updated_at`` later): importing a file twice,
  or copying again just before a switch-over, gives the same result and never undoes a write
  made on the target since;
* a row is checked before anything is written (key, user, tenant and device fields as every
  write checks them, aware datetimes, JSON data); a bad row is a :class:`SessionDataError`
  and nothing of its batch is written;
* an import writes no index entry a row did not have and signs nobody out
  (``SESSION_MAX_PER_USER`` is not applied: the source already held these sessions).

A store writes two primitives: ``_export_batches`` (its live rows, in batches, in any order)
and ``_import_batch`` (write a checked batch by the rule above; returns how many it wrote).

Rate limits and counters (``--counters``) travel the same way, with the same rules: a log is
written when its key has none or an older newest hit, a counter only when its key has no live
one (a counter is a total: an import never adds to it). Both keep their expiry, in the wall
clock's milliseconds as stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..errors import SessionDataError
from ..limits._checks import check_key, now_ms, wall_clock
from ..records import SessionRecord, utcnow
from ..storable import (
    HANDLE_LENGTH,
    ID_LENGTH,
    IP_LENGTH,
    PRINCIPAL_LENGTH,
    USER_AGENT_LENGTH,
    check_aware,
    check_text,
)
from ._codec import encode_json
from ._rules import check_batch_size
from .protocol import DEFAULT_BATCH_SIZE


@dataclass(slots=True)
class StoredSession:
    """One session as its store keeps it; see the module docstring. The key, the data and
    the device fields stay out of the repr (a key is a credential until ids are hashed)."""

    key: str = field(repr=False)
    data: dict[str, Any] = field(repr=False)
    expiry_date: datetime
    created_at: datetime
    updated_at: datetime
    user_id: str | None = None
    tenant_id: str | None = None
    ip: str | None = field(default=None, repr=False)
    user_agent: str | None = field(default=None, repr=False)
    last_seen: datetime | None = None
    handle: str | None = field(default=None, repr=False)


def stored_from(record: SessionRecord, key: str | None = None) -> StoredSession:
    """A store's raw record (its data as stored, lifetime key included) as a row to export."""
    now = utcnow()
    return StoredSession(
        key=record.id if key is None else key,
        data=record.data,
        expiry_date=record.expiry_date,
        created_at=record.created_at or now,
        updated_at=record.updated_at or record.created_at or now,
        user_id=record.user_id,
        tenant_id=record.tenant_id,
        ip=record.ip,
        user_agent=record.user_agent,
        last_seen=record.last_seen,
        handle=record.handle,
    )


class ImportCounts(NamedTuple):
    """What an import did with its rows."""

    written: int
    unchanged: int
    expired: int

    def __add__(self, other: object) -> ImportCounts:
        if not isinstance(other, ImportCounts):
            return NotImplemented
        return ImportCounts(*(a + b for a, b in zip(self, other, strict=True)))


NO_IMPORTS = ImportCounts(0, 0, 0)


def check_row(row: StoredSession) -> str:
    """Refuse a row no store may hold; returns its data as JSON (checked, not size-limited:
    the source held it)."""
    if not row.key:
        raise SessionDataError("an exported session has an empty key")
    check_text("an exported session's key", row.key, ID_LENGTH)
    check_text("tenant_id", row.tenant_id, PRINCIPAL_LENGTH)
    check_text("user_id", row.user_id, PRINCIPAL_LENGTH)
    check_text("the ip", row.ip, IP_LENGTH)
    check_text("the user agent", row.user_agent, USER_AGENT_LENGTH)
    check_text("the handle", row.handle, HANDLE_LENGTH)
    for moment in (row.expiry_date, row.created_at, row.updated_at, row.last_seen):
        if moment is not None:
            check_aware(moment)
    return encode_json(row.data)


def expired(row: StoredSession, absolute_ttl: timedelta | None, now: datetime) -> bool:
    """Over by ``now``: idle, or past its absolute deadline (its start plus ``absolute_ttl``)."""
    if row.expiry_date <= now:
        return True
    return absolute_ttl is not None and row.created_at + absolute_ttl <= now


def newest_per_key(rows: Iterable[StoredSession]) -> list[StoredSession]:
    """One row per key, the latest written (a scan may meet a key twice)."""
    best: dict[str, StoredSession] = {}
    for row in rows:
        seen = best.get(row.key)
        if seen is None or seen.updated_at < row.updated_at:
            best[row.key] = row
    return list(best.values())


class LimitEntry(NamedTuple):
    """A rate limit's log as stored: its hit times (ms, oldest first), when it expires (ms),
    and the numbers of its latest allowed hit (``None`` for a log from before they were kept)."""

    key: str
    hits: list[int]
    expires_at: int
    limit: int | None = None
    window_ms: int | None = None


class CounterEntry(NamedTuple):
    """A counter as stored: its value and expiry (ms; ``None``: never)."""

    key: str
    value: int
    expires_at: int | None = None


def _check_limit(entry: LimitEntry) -> None:
    check_key(entry.key)
    if not entry.hits or any(not isinstance(t, int) or t < 0 for t in entry.hits):
        raise SessionDataError("an exported rate limit has no hit times, or bad ones")
    if entry.hits != sorted(entry.hits):
        raise SessionDataError("an exported rate limit's hit times are out of order")
    for number in (entry.limit, entry.window_ms, entry.expires_at):
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int) or number < 1
        ):
            raise SessionDataError("an exported rate limit's numbers are not whole numbers")


def _check_counter(entry: CounterEntry) -> None:
    check_key(entry.key)
    if isinstance(entry.value, bool) or not isinstance(entry.value, int):
        raise SessionDataError("an exported counter's value is not a whole number")


@runtime_checkable
class TransferStore(Protocol):
    """A store whose sessions can be exported and imported (every built-in one)."""

    async def export_sessions(
        self, *, tenant_id: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[list[StoredSession]]:
        """Every live session (of one tenant), in batches."""
        yield []  # pragma: no cover - a protocol's body

    async def import_sessions(self, rows: Iterable[StoredSession]) -> ImportCounts: ...

    def export_limits(self, *, batch_size: int = ...) -> AsyncIterator[list[LimitEntry]]: ...

    def export_counters(self, *, batch_size: int = ...) -> AsyncIterator[list[CounterEntry]]: ...

    async def import_limits(self, entries: Iterable[LimitEntry]) -> ImportCounts: ...

    async def import_counters(self, entries: Iterable[CounterEntry]) -> ImportCounts: ...


class TransferRules:
    """The public export and import methods over a store's two primitives."""

    absolute_ttl: timedelta | None = None

    async def export_sessions(
        self, *, tenant_id: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[list[StoredSession]]:
        """Every live session (of one tenant) as stored, in batches of at most
        ``batch_size``; a session written while the export runs may or may not be in it."""
        check_batch_size(batch_size)
        if tenant_id is not None:
            check_text("tenant_id", tenant_id, PRINCIPAL_LENGTH)
        async for batch in self._export_batches(tenant_id, batch_size):
            now = utcnow()
            live = [r for r in batch if not expired(r, self.absolute_ttl, now)]
            if live:
                yield live

    async def import_sessions(self, rows: Iterable[StoredSession]) -> ImportCounts:
        """Write ``rows`` by the rules of the module docstring (one batch: the caller cuts a
        long stream into batches)."""
        now = utcnow()
        batch, late = [], 0
        encoded: dict[int, str] = {}
        for row in rows:
            text = check_row(row)
            if expired(row, self.absolute_ttl, now):
                late += 1
                continue
            batch.append(row)
            encoded[id(row)] = text
        unique = newest_per_key(batch)
        written = await self._import_batch([(r, encoded[id(r)]) for r in unique]) if unique else 0
        return ImportCounts(written, len(unique) - written, late)  # a key met twice: once

    async def export_limits(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[list[LimitEntry]]:
        """Every live rate-limit log (the login guard's included), in batches."""
        check_batch_size(batch_size)
        async for batch in self._export_limits(batch_size):
            now = now_ms(wall_clock)
            if live := [e for e in batch if e.expires_at > now and e.hits]:
                yield live

    async def export_counters(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[list[CounterEntry]]:
        """Every live counter, in batches."""
        check_batch_size(batch_size)
        async for batch in self._export_counters(batch_size):
            now = now_ms(wall_clock)
            if live := [e for e in batch if e.expires_at is None or e.expires_at > now]:
                yield live

    async def import_limits(self, entries: Iterable[LimitEntry]) -> ImportCounts:
        """Write each live log whose key holds none, or one with an older newest hit."""
        now = now_ms(wall_clock)
        todo: dict[str, LimitEntry] = {}
        late = 0
        for entry in entries:
            _check_limit(entry)
            if entry.expires_at <= now:
                late += 1
            elif (seen := todo.get(entry.key)) is None or seen.hits[-1] < entry.hits[-1]:
                todo[entry.key] = entry
        written = await self._import_limits(list(todo.values()), now) if todo else 0
        return ImportCounts(written, len(todo) - written, late)

    async def import_counters(self, entries: Iterable[CounterEntry]) -> ImportCounts:
        """Write each live counter whose key holds no live one."""
        now = now_ms(wall_clock)
        todo: dict[str, CounterEntry] = {}
        late = 0
        for entry in entries:
            _check_counter(entry)
            if entry.expires_at is not None and entry.expires_at <= now:
                late += 1
            else:
                todo.setdefault(entry.key, entry)
        written = await self._import_counters(list(todo.values()), now) if todo else 0
        return ImportCounts(written, len(todo) - written, late)

    # -- primitives a store writes -------------------------------------------------------------

    def _export_limits(self, batch_size: int) -> AsyncIterator[list[LimitEntry]]:
        raise NotImplementedError

    def _export_counters(self, batch_size: int) -> AsyncIterator[list[CounterEntry]]:
        raise NotImplementedError

    async def _import_limits(self, entries: list[LimitEntry], now: int) -> int:
        """Write each entry whose key has no log, or one whose newest hit is older."""
        raise NotImplementedError

    async def _import_counters(self, entries: list[CounterEntry], now: int) -> int:
        """Write each entry whose key has no counter live at ``now``."""
        raise NotImplementedError

    def _export_batches(
        self, tenant_id: str | None, batch_size: int
    ) -> AsyncIterator[list[StoredSession]]:
        """The store's unexpired rows (of one tenant), as stored, in batches, any order."""
        raise NotImplementedError

    async def _import_batch(self, rows: list[tuple[StoredSession, str]]) -> int:
        """Write each (row, its data as JSON) whose key is absent or stored with an earlier
        ``updated_at``, keeping every field as given; returns how many were written."""
        raise NotImplementedError
