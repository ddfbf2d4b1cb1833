"""``LiveSessions``: the live-sessions gauge's value, counted by the store at most once a
minute and cached between.

A reader collects from a thread of its own (a periodic exporter, a Prometheus scrape) or from
the event loop itself (an in-memory reader in a test), and ``store.stats()`` is a coroutine
of the service's loop. So a collection never waits: it reports the last count, and when that
is a minute old it asks the loop for a new one, which the next collection reports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable

from .._words import in_words
from ..stores.protocol import SessionStore

logger = logging.getLogger("session_service")

#: The least time between two counts of the live sessions (seconds).
LIVE_EVERY_SECONDS = 60.0


class LiveSessions:
    """The cached count of one store's live sessions (``None`` until first counted)."""

    def __init__(self, store: SessionStore, clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.clock = clock if clock is not None else time.monotonic
        #: The loop the store runs on; set when the service starts (``async with service``).
        self.loop: asyncio.AbstractEventLoop | None = None
        self.value: int | None = None
        #: The count under way, if any (a test awaits it with ``asyncio.wrap_future``).
        self.pending: concurrent.futures.Future[None] | None = None
        self._asked_at: float | None = None

    def read(self) -> int | None:
        """The last count; asks for a new one when it is a minute old. Never blocks."""
        now = self.clock()
        loop = self.loop
        due = self._asked_at is None or now - self._asked_at >= LIVE_EVERY_SECONDS
        if due and self.pending is None and loop is not None and not loop.is_closed():
            self._asked_at = now
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.pending = asyncio.run_coroutine_threadsafe(self._count(), loop)
        return self.value

    async def _count(self) -> None:
        try:
            self.value = (await self.store.stats()).live
        except Exception as exc:
            # Store down: no figure rather than a stale one; the next minute tries again.
            self.value = None
            logger.debug("could not count the live sessions: %s", in_words(exc))
        finally:
            self.pending = None
