"""``LocalCache``: the entries of one process, bounded in number and age, and the state of
the channel that keeps them honest.

What a caller may rely on:

* no hit while the channel is not listening (before its first subscribe, while it is down,
  and until it has subscribed again); every change of state empties the cache;
* every invalidation (and every state change) bumps :attr:`LocalCache.generation`, and a fill
  is kept only if the generation it started under is still current, so a read that raced a
  revocation never puts the revoked session back (the fill started before the revocation
  was heard, and may have read the row before it was deleted); a fill that raced a write of
  the same session by this process is dropped too, and so is the written value of two
  writes of one session that overlapped;
* an entry is served for at most ``max_age`` seconds after the read that filled it started
  (another process's writes show within that); at most ``max_entries`` are kept, the oldest
  going first;
* a hit is a fresh :class:`~session_service.records.SessionRecord` whose data is decoded
  anew from the entry's JSON, so one request's in-place change never reaches another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import overload

from .._words import in_words
from ..records import SessionRecord
from ..stores._codec import decode_data
from .keys import EVERYTHING

logger = logging.getLogger("session_service.cache")

#: The entries' JSON (the stores checked the data already: nothing is refused here).
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(slots=True)
class Entry:
    """One cached session: every field of its record but the data, which is kept as JSON."""

    filled: float  # monotonic time at which the read (or write) that made it started
    record: SessionRecord  # its ``data`` is never handed out (see :meth:`fresh`)
    data: str

    def fresh(self, now: datetime) -> SessionRecord | None:
        """A private copy of the session, or ``None`` once it has expired by ``now``."""
        r = self.record
        if r.expiry_date <= now or (r.absolute_expiry is not None and r.absolute_expiry <= now):
            return None
        return SessionRecord(
            r.id,
            decode_data(self.data),
            r.expiry_date,
            r.user_id,
            r.tenant_id,
            r.created_at,
            r.updated_at,
            r.ip,
            r.user_agent,
            r.last_seen,
            r.handle,
            r.idle_ttl,
            r.persistent,
            r.absolute_expiry,
        )


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: datetime | None) -> datetime | None:
    """In UTC, as every store reads a timestamp back (a write may pass another zone)."""
    return value if value is None or value.tzinfo is UTC else value.astimezone(UTC)


def entry_of(record: SessionRecord, filled: float) -> Entry:
    """An entry holding a snapshot of ``record`` (later changes to it are not seen)."""
    data = dumps(record.data)
    snapshot = SessionRecord(
        record.id,
        {},
        _utc(record.expiry_date),
        record.user_id,
        record.tenant_id,
        _utc(record.created_at),
        _utc(record.updated_at),
        record.ip,
        record.user_agent,
        _utc(record.last_seen),
        record.handle,
        record.idle_ttl,
        record.persistent,
        _utc(record.absolute_expiry),
    )
    return Entry(filled, snapshot, data)


class Write:
    """One write of one session by this process (see :meth:`LocalCache.writing`)."""

    __slots__ = ("cache", "entry", "generation", "key")

    def __init__(self, cache: LocalCache, key: str, generation: int) -> None:
        self.cache, self.key, self.generation = cache, key, generation
        self.entry: Entry | None = None

    def keep(self, entry: Entry) -> None:
        """What the write stored, to keep once it is done."""
        self.entry = entry

    def wanted(self) -> bool:
        """Whether an entry kept now would be kept when the write ends (no write of the key
        overlapped it, no revocation or state change since it began, the channel listens).
        Asked just before building the entry, with no ``await`` between that and the end:
        a write of a session many requests write at once builds nothing it would drop."""
        cache = self.cache
        return (
            cache.listening
            and self.generation == cache.generation
            and self.key not in cache._overlapped
        )

    def __enter__(self) -> Write:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cache._finish(self)


class LocalCache:
    """The entries of one process (see the module docstring)."""

    def __init__(
        self,
        max_entries: int,
        max_age: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self.clock = clock
        self._entries: dict[str, Entry] = {}
        #: Bumped by every invalidation and state change; a fill keeps the value it began with.
        self.generation = 0
        #: True only while the channel is subscribed and healthy: the only time hits are served.
        self.listening = False
        self._said_down = False
        # Writes of this process: how many began, which key each one named last (recent
        # ones: ``_floor`` is the first epoch no longer remembered), which are in flight,
        # and which overlapped another write of the same key.
        self._epoch = self._floor = 0
        self._written: dict[str, int] = {}
        self._inflight: dict[str, int] = {}
        self._overlapped: set[str] = set()
        #: Called with the keys (or ``"*"``) of every revocation heard, after the entries went.
        self.on_revoke: list[Callable[[Iterable[str]], None]] = []
        #: Called with ``True`` when the channel listens, ``False`` when it is lost.
        self.on_state: list[Callable[[bool], None]] = []
        #: Futures resolved when the channel (next) listens.
        self.waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._entries)

    # -- the per-request path --------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """The entry for ``key`` if it may be served now (never while not listening)."""
        if not self.listening:
            return None
        entry = self._entries.get(key)
        if entry is not None and self.clock() - entry.filled > self.max_age:
            del self._entries[key]
            return None
        return entry

    def mark(self) -> tuple[int, int]:
        """Taken when a read of the store starts; :meth:`fill` keeps what it read only if
        nothing happened meanwhile that could make it stale."""
        return self.generation, self._epoch

    def fill(self, key: str, record: SessionRecord, mark: tuple[int, int], started: float) -> None:
        """Keep ``record``, as read by a read that started at ``started`` (the clock's time),
        unless since ``mark`` a revocation was heard, the channel
        changed state, or this process began a write of ``key`` (or forgot which keys it
        wrote that long ago)."""
        generation, epoch = mark
        if generation != self.generation or not self.listening or key in self._inflight:
            return
        if epoch < self._floor or self._written.get(key, 0) > epoch:
            return
        self._keep(key, entry_of(record, started))

    def _keep(self, key: str, entry: Entry) -> None:
        entries = self._entries
        entries.pop(key, None)  # re-inserted last: the oldest fill is the first to go
        entries[key] = entry
        if len(entries) > self.max_entries:
            del entries[next(iter(entries))]

    def writing(self, key: str) -> Write:
        """``with cache.writing(key) as w: …; w.keep(entry)``: forget ``key`` while this
        process writes it, then keep what it wrote, but only if no other write of ``key``
        in this process overlapped it (which of two lands last is the store's to say) and
        no revocation was heard meanwhile."""
        self._entries.pop(key, None)
        self._epoch += 1
        written = self._written
        written.pop(key, None)
        written[key] = self._epoch
        if len(written) > self.max_entries:
            self._floor = written.pop(next(iter(written)))
        inflight = self._inflight.get(key, 0)
        if inflight:
            self._overlapped.add(key)
        self._inflight[key] = inflight + 1
        return Write(self, key, self.generation)

    def _finish(self, write: Write) -> None:
        key = write.key
        alone = key not in self._overlapped
        left = self._inflight[key] - 1
        if left:
            self._inflight[key] = left
        else:
            del self._inflight[key]
            self._overlapped.discard(key)
        entry = write.entry
        if entry is not None and alone and write.generation == self.generation:
            if self.listening:
                self._keep(key, entry)
        else:
            self._entries.pop(key, None)  # a fill that read the row while it was written

    def clear(self) -> None:
        """Forget everything (this process revoked sessions it cannot name)."""
        self._entries.clear()
        self.generation += 1

    # -- the channel's side ----------------------------------------------------------------

    def revoke(self, keys: Iterable[str]) -> None:
        """Sessions revoked somewhere (``"*"``: every session): their entries go at once."""
        keys = list(keys)
        self.generation += 1
        if EVERYTHING in keys:
            self._entries.clear()
        else:
            for key in keys:
                self._entries.pop(key, None)
        for listener in self.on_revoke:
            listener(keys)

    def channel_up(self, where: str) -> None:
        """The channel is subscribed: start from an empty cache, then serve hits."""
        self._entries.clear()
        self.generation += 1
        self.listening = True
        if self._said_down:
            logger.warning("session cache: listening again on %s; cache emptied", where)
            self._said_down = False
        for listener in self.on_revoke:
            listener([EVERYTHING])  # what was missed while down: websockets check the store
        for state in self.on_state:
            state(True)
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def channel_down(self, where: str, reason: str) -> None:
        """The channel is lost: no hits (reads go to the store) until it is back. One log
        line per outage, not one per reconnect attempt."""
        was = self.listening
        self.listening = False
        self._entries.clear()
        self.generation += 1
        if was or not self._said_down:
            logger.warning(
                "session cache: revocation channel on %s lost (%s); serving every read "
                "from the store until it is back",
                where,
                reason,
            )
            self._said_down = True
        for state in self.on_state:
            state(False)


def describe(exc: BaseException) -> str:
    """An error by its first line, for the one log line (never its class name: issue 24;
    never a URL's password: the channels' errors name hosts at most). A timeout of the
    channel's own (``asyncio.timeout`` around the subscription) has no message: "timed out"."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    return in_words(exc, limit=120)
