"""``LocalCache``: the entries of one process, bounded in number and age, and the state of
the channel that keeps them honest.

What a caller may rely on:

* no hit while the channel is not listening (before its first subscribe, while it is down,
  and until it has subscribed again); every change of state empties the cache;
* every invalidation (and every state change) bumps :attr:`LocalCache.generation`, and a fill
  is kept only if the generation it started under is still current, so a read that raced a
  revocation never puts the revoked session back (the fill started before the revocation
  was heard, and may have read the row before it was deleted);
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
from datetime import datetime

from ..records import SessionRecord
from ..stores._codec import decode_data
from .keys import EVERYTHING

logger = logging.getLogger("session_service.cache")

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


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


def entry_of(record: SessionRecord, filled: float) -> Entry:
    """An entry holding a snapshot of ``record`` (later changes to it are not seen)."""
    data = _dumps(record.data)
    snapshot = SessionRecord(
        record.id,
        {},
        record.expiry_date,
        record.user_id,
        record.tenant_id,
        record.created_at,
        record.updated_at,
        record.ip,
        record.user_agent,
        record.last_seen,
        record.handle,
        record.idle_ttl,
        record.persistent,
        record.absolute_expiry,
    )
    return Entry(filled, snapshot, data)


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

    def put(self, key: str, entry: Entry, generation: int) -> None:
        """Keep ``entry`` unless something was invalidated since ``generation`` was read."""
        if generation != self.generation or not self.listening:
            return
        entries = self._entries
        entries.pop(key, None)  # re-inserted last: the oldest fill is the first to go
        entries[key] = entry
        if len(entries) > self.max_entries:
            del entries[next(iter(entries))]

    def begin_write(self, key: str) -> int:
        """Forget ``key`` before this process writes it; the generation its result is kept
        under (a fill that started before the write is then dropped)."""
        self._entries.pop(key, None)
        self.generation += 1
        return self.generation

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
    """An error by its class and first line, for the one log line (never a URL's password:
    the channels' errors name hosts at most)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__
