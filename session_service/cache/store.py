"""``CachedSessionStore``: a store in front of a store, serving reads from :class:`LocalCache`.

It is itself a :class:`~session_service.stores.SessionStore`, written out method by method
(composition: no call reaches the inner store except through a method named here):

* ``load`` serves a hit without a round trip while the channel listens; a miss reads the
  inner store and keeps what it read, unless a revocation was heard meanwhile;
* every write of one session (``create``, ``save``, ``update``, ``patch``, ``touch``,
  ``seen``, ``rotate``) first forgets the session's entry, then keeps what it wrote when it
  succeeded: this process reads its own writes at once, and a ``patch`` is merged into the
  entry instead of costing a second read;
* ``new_id`` is the inner store's (its ids may say where it files a session);
* ``delete`` forgets the session here at once; the store's own push reaches the others;
* the operations that end sessions it cannot name (by user, by handle, by tenant, everything,
  and any write that may evict a user's extra sessions) empty this process's cache, since
  its own reads must not wait for its own push; the others hear the push;
* an import forgets every session it names (:mod:`.transfer`);
* everything else (listings, counts, cleanup, statistics, the lifecycle, export) is the
  inner store's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..lifetime import LIFETIME_KEY, read_lifetime
from ..records import SessionRecord, user_id_of, utcnow
from ..stores._codec import decode_data
from ..stores.protocol import (
    DEFAULT_BATCH_SIZE,
    ProgressCallback,
    SessionStore,
    StoreStats,
    id_minter,
)
from .channel import RevocationChannel
from .keys import revocation_key
from .local import Entry, LocalCache, Write, dumps, entry_of
from .transfer import CachedTransfer

if TYPE_CHECKING:
    from ..metrics import SessionMetrics


class CachedSessionStore(CachedTransfer):
    """``inner``'s sessions, read through a per-process cache that ``channel`` keeps honest."""

    #: The service's counts (``None``: no metrics): the cache counts its hits here.
    _metrics: SessionMetrics | None = None

    def __init__(self, inner: SessionStore, cache: LocalCache, channel: RevocationChannel):
        self.inner = inner
        self.cache = cache
        self.channel = channel
        self._inner_new_id = id_minter(inner)

    def __repr__(self) -> str:
        return f"CachedSessionStore({self.inner!r})"

    # -- what it is ------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def display_url(self) -> str:
        return self.inner.display_url

    @property
    def max_bytes(self) -> int | None:
        return self.inner.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int | None) -> None:
        self.inner.max_bytes = value

    @property
    def schema_revision(self) -> Callable[[], Awaitable[str | None]] | None:
        """The inner store's (the CLI's ``migrate`` reports it), if it has a schema."""
        return getattr(self.inner, "schema_revision", None)

    def limit_storage(self) -> Any:
        """Rate limits and counters are the inner store's, never cached."""
        from ..limits import storage_for

        return storage_for(self.inner)

    async def ping(self) -> None:
        await self.inner.ping()

    async def migrate(self) -> None:
        await self.inner.migrate()

    async def close(self) -> None:
        await self.channel.stop()
        await self.inner.close()

    # -- one session -------------------------------------------------------------------------

    def new_id(self, record: SessionRecord) -> str:
        """The inner store's id for a new session (it files what the id says, the cache
        does not)."""
        return self._inner_new_id(record)

    async def load(self, session_id: str) -> SessionRecord | None:
        cache = self.cache
        if not self.channel.listening_here():
            self.channel.ensure_started()
            return await self.inner.load(session_id)
        key = revocation_key(session_id)
        entry = cache.get(key)
        if entry is not None:
            hit = entry.fresh(utcnow())
            if hit is not None and hit.id == session_id:
                if self._metrics is not None:
                    self._metrics.cache_hit += 1
                return hit
        mark, started = cache.mark(), cache.clock()
        record = await self.inner.load(session_id)
        if record is not None:
            cache.fill(key, record, mark, started)
        return record

    def _may_evict(self, user_id: str | None) -> bool:
        """A write binding ``user_id`` may sign out that user's extra sessions (unnamed)."""
        return bool(user_id) and bool(getattr(self.inner, "max_per_user", 0))

    def _keep(self, write: Write, record: SessionRecord, started: float) -> None:
        """Keep what this process wrote (its own next read sees it at once), or, when the
        write may have signed out other sessions of the user, forget everything. A new
        session (no ``created_at`` yet: the store sets it, from its own clock) is not kept:
        a guess would be a start the store does not hold (the devices page, an export and
        the absolute deadline say otherwise), so its first read goes to the store."""
        if self._may_evict(record.user_id):
            self.cache.clear()
        elif record.created_at is not None and write.wanted() and record.expiry_date > utcnow():
            write.keep(entry_of(record, started))

    async def create(self, record: SessionRecord) -> SessionRecord:
        key, started = revocation_key(record.id), self.cache.clock()
        with self.cache.writing(key) as write:
            created = await self.inner.create(record)
            if revocation_key(created.id) == key:  # else the id was taken: a fresh one
                self._keep(write, created, started)
        return created

    async def save(self, record: SessionRecord) -> None:
        started = self.cache.clock()
        with self.cache.writing(revocation_key(record.id)) as write:
            await self.inner.save(record)
            self._keep(write, record, started)

    async def update(self, record: SessionRecord, *, extend_expiry: bool = True) -> bool:
        key, started = revocation_key(record.id), self.cache.clock()
        before = self.cache.get(key)
        with self.cache.writing(key) as write:
            if not await self.inner.update(record, extend_expiry=extend_expiry):
                return False
            if extend_expiry:
                self._keep(write, record, started)
            elif before is not None and not self._may_evict(record.user_id) and write.wanted():
                # The stored expiry was kept: so is the entry's.
                written = entry_of(record, started)
                written.record.expiry_date = before.record.expiry_date
                written.record.absolute_expiry = before.record.absolute_expiry
                write.keep(written)
            elif self._may_evict(record.user_id):
                self.cache.clear()
        return True

    async def patch(
        self,
        session_id: str,
        changed: Mapping[str, Any],
        removed: Collection[str],
        *,
        expiry_date: datetime | None = None,
        lifetime: tuple[int | None, bool | None] | None = None,
    ) -> bool:
        key = revocation_key(session_id)
        before = self.cache.get(key)
        with self.cache.writing(key) as write:
            done = await self.inner.patch(
                session_id, changed, removed, expiry_date=expiry_date, lifetime=lifetime
            )
            if not done:
                return False
            if "user_id" in changed and self._may_evict(user_id_of(dict(changed))):
                self.cache.clear()
            elif before is not None and before.record.id == session_id and write.wanted():
                write.keep(_patched(before, changed, removed, expiry_date, lifetime))
        return True

    async def touch(
        self, session_id: str, expiry_date: datetime, *, last_seen: datetime | None = None
    ) -> bool:
        key = revocation_key(session_id)
        before = self.cache.get(key)
        with self.cache.writing(key) as write:
            done = await self.inner.touch(session_id, expiry_date, last_seen=last_seen)
            if done and before is not None and before.record.id == session_id:
                record = before.record
                deadline = record.absolute_expiry
                moved = expiry_date if deadline is None else min(expiry_date, deadline)
                record.expiry_date = moved.astimezone(UTC)
                if last_seen is not None:
                    record.last_seen = last_seen.astimezone(UTC)
                write.keep(before)
        return done

    async def seen(self, session_id: str, when: datetime) -> bool:
        key = revocation_key(session_id)
        before = self.cache.get(key)
        with self.cache.writing(key) as write:
            done = await self.inner.seen(session_id, when)
            if done and before is not None and before.record.id == session_id:
                before.record.last_seen = when.astimezone(UTC)
                write.keep(before)
        return done

    async def rotate(self, old_id: str, record: SessionRecord) -> bool:
        # Not cached after the move: the store keeps the session's handle and device fields,
        # which ``record`` does not always carry back (Redis), so the first read after a
        # login goes to the store.
        with (
            self.cache.writing(revocation_key(old_id)),
            self.cache.writing(revocation_key(record.id)),
        ):
            return await self.inner.rotate(old_id, record)

    async def delete(self, session_id: str) -> None:
        with self.cache.writing(revocation_key(session_id)):
            await self.inner.delete(session_id)

    # -- by user, by tenant, everything --------------------------------------------------

    async def clear_sessions_for_user(
        self,
        user_id: str | int,
        *,
        tenant_id: str | None = None,
        keep: str | None = None,
        untenanted_only: bool = False,
    ) -> int:
        try:
            return await self.inner.clear_sessions_for_user(
                user_id, tenant_id=tenant_id, keep=keep, untenanted_only=untenanted_only
            )
        finally:
            self.cache.clear()

    async def revoke_user_session(
        self, user_id: str | int, handle: str, *, tenant_id: str | None = None
    ) -> bool:
        try:
            return await self.inner.revoke_user_session(user_id, handle, tenant_id=tenant_id)
        finally:
            self.cache.clear()

    async def clear_all_sessions(
        self,
        *,
        tenant_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        try:
            return await self.inner.clear_all_sessions(
                tenant_id=tenant_id, batch_size=batch_size, on_progress=on_progress
            )
        finally:
            self.cache.clear()

    async def count_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> int:
        return await self.inner.count_sessions_for_user(user_id, tenant_id=tenant_id)

    async def get_session_ids_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[str]:
        return await self.inner.get_session_ids_for_user(user_id, tenant_id=tenant_id)

    async def list_sessions_for_user(
        self, user_id: str | int, *, tenant_id: str | None = None
    ) -> list[SessionRecord]:
        return await self.inner.list_sessions_for_user(user_id, tenant_id=tenant_id)

    async def dump_all_sessions(self, *, tenant_id: str | None = None) -> list[SessionRecord]:
        return await self.inner.dump_all_sessions(tenant_id=tenant_id)

    # -- expiry and statistics -----------------------------------------------------------

    async def delete_expired(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE, on_progress: ProgressCallback | None = None
    ) -> int:
        return await self.inner.delete_expired(batch_size=batch_size, on_progress=on_progress)

    async def delete_expired_if_leader(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
        return await self.inner.delete_expired_if_leader(batch_size=batch_size)

    async def stats(self) -> StoreStats:
        return await self.inner.stats()

    async def wait_listening(self) -> None:
        """Start the channel on this loop and wait until it listens (tests, benchmarks and a
        warm start; a request never waits: it reads the store meanwhile)."""
        self.channel.ensure_started()
        while not self.channel.listening_here():
            waiter = asyncio.get_running_loop().create_future()
            self.cache.waiters.append(waiter)
            await waiter


def _patched(
    before: Entry,
    changed: Mapping[str, Any],
    removed: Collection[str],
    expiry_date: datetime | None,
    lifetime: tuple[int | None, bool | None] | None,
) -> Entry:
    """``before`` with a patch applied, as the store merged it (keys set and removed, the
    owner following ``user_id``, the expiry and the session's own lifetime). One decode and
    one encode of the data, and one new record: ``before``'s fields are in UTC already, so
    nothing else is copied or converted (the cached write path; issue 22)."""
    r = before.record
    data = decode_data(before.data)
    for name in removed:
        data.pop(name, None)
    data.update(changed)
    idle_ttl, persistent = r.idle_ttl, r.persistent
    if LIFETIME_KEY in data:  # the reserved key, when a lifetime came with the patch
        idle_ttl, persistent = read_lifetime(data.pop(LIFETIME_KEY))
    if lifetime is not None:
        idle_ttl, persistent = lifetime
    expiry = r.expiry_date
    if expiry_date is not None:
        deadline = r.absolute_expiry
        moved = expiry_date if deadline is None else min(expiry_date, deadline)
        expiry = moved if moved.tzinfo is UTC else moved.astimezone(UTC)
    record = SessionRecord(
        r.id, {}, expiry, user_id_of(data), r.tenant_id, r.created_at, r.updated_at, r.ip,
        r.user_agent, r.last_seen, r.handle, idle_ttl, persistent, r.absolute_expiry,
    )  # fmt: skip
    return Entry(before.filled, record, dumps(data))
